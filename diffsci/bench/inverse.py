"""Posterior sampling on linear-Gaussian problems: error against the closed-form posterior vs NFE, per method.

The prior is a correlated Gaussian random field on an 8x8 grid (squared-exponential covariance, length
scale 1.5, plus a 0.01 nugget; its exact denoiser is diffsci.diffusion.GaussianDenoiser), the
measurements are noisy (sigma_y = 0.1): ``mask`` keeps a random half of the pixels, ``fourier`` keeps
the 3x3 lowest frequencies plus a random 20% of k-space (real image, orthonormal FFT). The posterior
N(m, C) is exact (diffsci.guidance.gaussian_posterior). For every method and number of steps we draw
``shots`` samples for each of ``measurements`` measurements and report

- ``mean_err``: RMS over pixels of (sample mean - m) / sqrt(C_ii), in posterior standard deviations
  (Monte-Carlo floor of an exact sampler: about 1/sqrt(shots));
- ``mean_rel_err``: ||sample mean - m|| / ||m - mu||, the error relative to what the data changes;
- ``cov_err``: ||sample covariance - C||_F / ||C||_F; ``std_err``: RMS of (sample std / sqrt(C_ii) - 1);
- ``nfe`` (denoiser calls; dps and pigdm each with a backward pass) and ``ms_per_sample``.

``oracle`` integrates the exact posterior denoiser GaussianDenoiser(m, C) with Heun: the floor that
discretisation and Monte-Carlo error leave.
"""

from __future__ import annotations

import math
import platform
import time

import torch

from ..diffusion import GaussianDenoiser, karras_sigmas
from ..guidance import gaussian_posterior, method_nfe, multishot
from ..operators import LinearOperator, Mask, SubsampledFourier
from ..samplers import NFE, heun
from ..utils import resolve_device

#: (row name, method, options) compared by the benchmark; the first of each method is its default.
METHOD_CONFIGS = [
    ("dc", "dc", {}),
    ("dc_heun", "dc", {"sampler": "heun"}),
    ("pigdm", "pigdm", {}),
    ("pigdm_heun", "pigdm", {"sampler": "heun"}),
    ("dps", "dps", {}),
    ("diffpir", "diffpir", {}),
    ("diffpir_zeta0.3", "diffpir", {"zeta": 0.3}),
]
PROBLEMS = ("mask", "fourier")
SIGMA_Y = 0.1
SIDE = 8


def correlated_prior(side: int = SIDE, length_scale: float = 1.5, nugget: float = 0.01, *,
                     generator: torch.Generator, dtype=torch.float64) -> GaussianDenoiser:
    """N(mu, Sigma) on a side x side grid: Sigma_ij = exp(-|p_i - p_j|^2 / (2 l^2)) + nugget delta_ij."""
    ii, jj = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    p = torch.stack([ii.reshape(-1), jj.reshape(-1)], 1).to(dtype)
    cov = torch.exp(-((p[:, None] - p[None]) ** 2).sum(-1) / (2 * length_scale ** 2))
    cov = cov + nugget * torch.eye(side * side, dtype=dtype)
    mu = 0.3 * torch.randn(1, side, side, generator=generator, dtype=dtype)
    return GaussianDenoiser(mu, cov=cov)


def make_operator(problem: str, side: int = SIDE, sigma_y: float = SIGMA_Y, *,
                  generator: torch.Generator) -> LinearOperator:
    """The measurement operator of a benchmark problem ("mask" or "fourier")."""
    if problem == "mask":
        return Mask((torch.rand(side, side, generator=generator) < 0.5).double(), sigma_y=sigma_y)
    if problem == "fourier":
        m = (torch.rand(side, side, generator=generator) < 0.2).double()
        for i in (-1, 0, 1):                       # the 3x3 lowest frequencies (uncentred layout)
            for j in (-1, 0, 1):
                m[i % side, j % side] = 1.0
        return SubsampledFourier(m, sigma_y=sigma_y)
    raise ValueError(f"unknown problem '{problem}'; valid: {', '.join(PROBLEMS)}")


def posterior_errors(samples: torch.Tensor, m: torch.Tensor, C: torch.Tensor, mu: torch.Tensor) -> dict:
    """Errors of K samples (K, *event) against the exact posterior N(m, C) (see the module docstring)."""
    x = samples.reshape(samples.shape[0], -1).to(C.dtype)
    m, mu = m.reshape(-1), mu.reshape(-1)
    sd = torch.diag(C).clamp_min(1e-300).sqrt()
    mean, cov = x.mean(0), torch.cov(x.T)
    return {"mean_err": float(((mean - m) / sd).pow(2).mean().sqrt()),
            "mean_rel_err": float((mean - m).norm() / (m - mu).norm()),
            "cov_err": float((cov - C).norm() / C.norm()),
            "std_err": float((torch.diag(cov).clamp_min(0).sqrt() / sd - 1).pow(2).mean().sqrt())}


def setup(problem: str, measurements: int, *, seed: int = 0, device="cpu"):
    """(prior, operator, y (M, 1, side, side), [(m, C)] per measurement) for one problem, seeded."""
    g = torch.Generator().manual_seed(seed)
    prior = correlated_prior(generator=g)
    op = make_operator(problem, generator=g)
    y = op.measure(prior.sample(measurements, generator=g), generator=g)
    post = [gaussian_posterior(prior, op, y[i:i + 1]) for i in range(measurements)]
    return prior.to(device), op.to(device), y.to(device), post


def evaluate(name: str, method: str, options: dict, prior, op, y, post, *, steps: int, shots: int,
             seed: int = 0) -> dict:
    """One row: run ``method`` on every measurement with ``shots`` samples each, and score it."""
    device = y.device
    g = torch.Generator(device=device).manual_seed(seed)
    sigmas = karras_sigmas(steps, 0.002, 80.0, device=device)
    n_meas, shape = y.shape[0], (y.shape[0], *prior.event_shape)
    t0 = time.perf_counter()
    if method == "oracle":
        samples = []
        for i, (m, C) in enumerate(post):
            exact = GaussianDenoiser(m.to(device), cov=C.to(device))
            x = torch.randn(shots, *prior.event_shape, generator=g, device=device, dtype=torch.float64) * sigmas[0]
            samples.append(heun(exact, x, sigmas))
        samples = torch.stack(samples)
        nfe = NFE["heun"](steps)
    else:
        opts = dict(options)
        if method in ("dc", "pigdm"):
            opts.setdefault("sigma_data", 1.0)
        grad = torch.enable_grad() if method in ("dps", "pigdm") else torch.no_grad()
        with grad:
            samples = multishot(method, prior, shape, sigmas, operator=op, measurement=y, shots=shots,
                                generator=g, **opts).samples.detach()
        nfe = method_nfe(method, steps, opts.get("sampler", "stochastic"))
    seconds = time.perf_counter() - t0
    errs = [posterior_errors(samples[i].cpu(), m, C, prior.mean.cpu()) for i, (m, C) in enumerate(post)]
    row = {"method": name, "options": options, "steps": steps, "nfe": nfe}
    for k in errs[0]:
        row[k] = round(sum(e[k] for e in errs) / n_meas, 4)
    row["ms_per_sample"] = round(1e3 * seconds / (n_meas * shots), 4)
    return row


def add_args(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="2 problems x few steps, 64 shots (seconds)")
    parser.add_argument("--shots", type=int, default=None, help="posterior samples per measurement (default 256)")
    parser.add_argument("--measurements", type=int, default=None, help="measurements per problem (default 4)")
    parser.add_argument("--steps", default=None, help="comma-separated step counts (default 10,20,50,100)")
    parser.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: mask,fourier")
    parser.add_argument("--seed", type=int, default=0)


def run(args) -> dict:
    quick = bool(getattr(args, "quick", False))
    device = resolve_device(getattr(args, "device", "cpu") or "cpu")
    shots = args.shots or (64 if quick else 256)
    n_meas = args.measurements or (2 if quick else 4)
    steps_list = [int(s) for s in (args.steps or ("10,20" if quick else "10,20,50,100")).split(",")]
    problems = [p.strip() for p in args.problems.split(",") if p.strip()]
    for p in problems:
        if p not in PROBLEMS:
            raise ValueError(f"unknown problem '{p}'; valid: {', '.join(PROBLEMS)}")
    t0 = time.perf_counter()
    rows = []
    for problem in problems:
        prior, op, y, post = setup(problem, n_meas, seed=args.seed, device=device)
        prior_err = [posterior_errors(prior.mean.cpu()[None].expand(2, *prior.event_shape), m, C, prior.mean.cpu())
                     for m, C in post]
        rows.append({"problem": problem, "method": "prior_mean", "options": {}, "steps": 0, "nfe": 0,
                     "mean_err": round(sum(e["mean_err"] for e in prior_err) / n_meas, 4),
                     "mean_rel_err": 1.0})
        for steps in steps_list:
            for name, method, options in [("oracle", "oracle", {})] + METHOD_CONFIGS:
                row = evaluate(name, method, options, prior, op, y, post, steps=steps, shots=shots,
                               seed=args.seed + steps)
                rows.append({"problem": problem, **row})
    return {"bench": "inverse", "device": str(device), "quick": quick, "seconds": round(time.perf_counter() - t0, 2),
            "host": {"python": platform.python_version(), "torch": torch.__version__,
                     "threads": torch.get_num_threads(), "machine": platform.machine()},
            "setup": {"grid": [SIDE, SIDE], "prior": "squared-exponential covariance, length 1.5, nugget 0.01",
                      "sigma_y": SIGMA_Y, "shots": shots, "measurements": n_meas, "steps": steps_list,
                      "schedule": "karras(sigma_min=0.002, sigma_max=80, rho=7)", "dtype": "float64",
                      "mc_floor_mean_err": round(1 / math.sqrt(shots), 4)},
            "rows": rows}
