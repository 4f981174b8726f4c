"""Benchmark 'likelihood': PF-ODE log-likelihood error, NFE, time and Hutchinson spread on Gaussian fields.

Data with a closed-form density: stationary Gaussian fields (power-law spectrum, the synthetic domain's
FourierGaussianDenoiser) on a 1D signal of length 1024 and a 32^3 volume (--quick: 64 and 8^3). For
each: the exact divergence where d <= --exact-max-dim, Hutchinson with K = 1, 4, 16 Rademacher probes
(several independent runs, so K = 1 also gets an observed spread), a steps sweep (error against NFE),
and the same integrator through an untrained EDM UNet, whose denoiser is exactly c_skip x (the
denoiser of N(0, sigma_data^2 I)): a timing of the network path with a known answer.
"""

from __future__ import annotations

import math
import platform
import time

import torch

LN2 = math.log(2.0)


def add_args(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="small sizes (seconds; used by the tests)")
    parser.add_argument("--steps", type=int, default=15, help="RK4 steps (NFE = 4 steps + 3; default 15 -> 63)")
    parser.add_argument("--samples", type=int, default=2, help="samples per case (default 2)")
    parser.add_argument("--runs", type=int, default=4, help="independent Hutchinson runs per K (default 4)")
    parser.add_argument("--exact-max-dim", type=int, default=4096,
                        help="use the exact divergence up to this many values per sample (default 4096)")
    parser.add_argument("--no-unet", action="store_true", help="skip the UNet timing")
    parser.add_argument("--no-study", action="store_true", help="skip the small-d closed-form study")
    parser.add_argument("--checkpoint", default=None,
                        help="also score a prior trained on the synthetic domain against its exact density")
    parser.add_argument("--seed", type=int, default=0)


def _field(spatial_dims: int, size: int):
    from ..data.synthetic import FourierGaussianDenoiser, power_law_spectrum
    shape = (1, *[size] * spatial_dims)
    lam = power_law_spectrum(shape[1:], alpha=2.0, k0=2.0, std=0.5)
    return FourierGaussianDenoiser(torch.full(shape, 0.1, dtype=torch.float64), lam)


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _row(case: str, dim: int, method: str, r, truth: torch.Tensor, seconds: float, n: int, k=None,
         runs=None) -> dict:
    err = (r.log_likelihood.cpu() - truth) / (dim * LN2)              # bits/dim, signed (log-lik error)
    row = {"case": case, "dim": dim, "method": method, "probes": k, "nfe": r.nfe,
           "divergence_evals": r.divergence_evals, "seconds_per_sample": round(seconds / n, 4),
           "abs_error_bits_per_dim": float(err.abs().max()), "mean_error_bits_per_dim": float(err.mean())}
    if method != "exact":
        se = r.stderr_bits_per_dim.cpu()
        row["reported_stderr_bits_per_dim"] = None if torch.isnan(se).any() else float(se.mean())
    if runs is not None:
        row.update(runs)
    return row


def _hutchinson(den, x, truth, case, dim, k, args, device, steps):
    from ..likelihood import log_likelihood
    runs, secs, last = [], 0.0, None
    for i in range(args.runs):
        gen = torch.Generator().manual_seed(args.seed + 100 * k + i)
        last, s = _timed(lambda: log_likelihood(den, x, divergence="hutchinson", probes=k, steps=steps,
                                                generator=gen))
        runs.append(last.log_likelihood.cpu())
        secs += s
    est = torch.stack(runs)                                          # (runs, n)
    dim_ln2 = dim * LN2
    extra = {"runs": args.runs,
             "observed_std_bits_per_dim": float(est.std(0).mean() / dim_ln2) if args.runs > 1 else None,
             "abs_error_of_run_mean_bits_per_dim": float(((est.mean(0) - truth) / dim_ln2).abs().max())}
    return _row(case, dim, "hutchinson", last, truth, secs / args.runs, len(x), k, extra)


def run(args) -> dict:
    from ..likelihood import log_likelihood
    from ..utils import resolve_device
    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    cases = [("1d", 1, 64 if args.quick else 1024), ("3d", 3, 8 if args.quick else 32)]
    steps = 3 if args.quick else args.steps
    sweep = (2, 3) if args.quick else (4, 8, args.steps)
    rows, notes = [], []
    for tag, sd, size in cases:
        den = _field(sd, size).to(device)
        case = f"{tag}-{'x'.join([str(size)] * sd)}"
        dim = den.dim
        x = den.sample(args.samples, generator=torch.Generator().manual_seed(args.seed)).to(device)
        truth = den.log_prob(x).cpu()
        if dim <= args.exact_max_dim:
            for n in sweep:                                          # error against NFE, exact divergence
                r, s = _timed(lambda: log_likelihood(den, x, steps=n))
                rows.append(_row(case, dim, "exact", r, truth, s, len(x)))
        else:
            notes.append(f"{case}: exact divergence skipped (d = {dim} > --exact-max-dim {args.exact_max_dim}: "
                         f"{dim} Jacobian products per evaluation)")
        for k in (1, 4, 16):
            rows.append(_hutchinson(den, x, truth, case, dim, k, args, device, steps))
        if not args.no_unet:
            rows.append(_unet_row(sd, size, args, device, steps, case))
    study = [] if args.no_study else _study(args)
    trained = _trained(args, steps) if getattr(args, "checkpoint", None) else None
    target = [r for r in rows if r["nfe"] <= 64 and r["method"] == "exact"]
    best = min((r["abs_error_bits_per_dim"] for r in target), default=None)
    return {"benchmark": "likelihood", "device": str(device), "quick": bool(args.quick),
            "torch_threads": torch.get_num_threads(), "host": platform.machine(),
            "data": "stationary Gaussian fields, spectrum (4 + |k|^2)^-1, marginal std 0.5, mean 0.1 "
                    "(diffsci.data.synthetic.FourierGaussianDenoiser); errors against the closed-form log-density",
            "integrator": f"RK4 on a log-spaced sigma grid 0.002..80, {steps} steps, reference-Gaussian form "
                          "(docs/likelihood.md)",
            "rows": rows,
            "closed_form_study": study,
            "trained_model": trained,
            "target": {"goal": "< 0.01 bits/dim with <= 64 NFE (exact divergence)",
                       "best_abs_error_bits_per_dim": best,
                       "met": bool(best is not None and best < 0.01)},
            "notes": notes + ["times are wall-clock on this host; on a shared CPU they vary with the load"]}


def _unet_row(sd: int, size: int, args, device, steps: int, case: str) -> dict:
    """Hutchinson K = 1 and 4 through an untrained EDM UNet (D = c_skip x exactly: N(0, 0.25 I))."""
    from ..diffusion import EDMDenoiser
    from ..likelihood import log_likelihood
    from ..nn import UNet
    ch = (8, 16) if args.quick else (32, 64, 128)
    net = UNet(sd, 1, channels=ch, num_res_blocks=1, attention_levels=(False,) * (len(ch) - 1) + (True,),
               num_head_channels=16, norm_num_groups=8)
    den = EDMDenoiser(net, sigma_data=0.5).to(device).eval()
    x = 0.5 * torch.randn(1, 1, *[size] * sd, generator=torch.Generator().manual_seed(args.seed)).to(device)
    d = x[0].numel()
    truth = (-0.5 * (x.double() ** 2).sum() / 0.25 - 0.5 * d * math.log(2 * math.pi * 0.25)).cpu().reshape(1)
    out = {"case": case, "dim": d, "method": "unet-hutchinson", "unet_channels": list(ch),
           "unet_parameters": sum(p.numel() for p in net.parameters())}
    for k in (1, 4):
        r, s = _timed(lambda: log_likelihood(den, x, divergence="hutchinson", probes=k, steps=steps,
                                             generator=torch.Generator().manual_seed(0)))
        out[f"seconds_per_sample_K{k}"] = round(s, 3)
        out[f"abs_error_bits_per_dim_K{k}"] = float(((r.log_likelihood.cpu() - truth) / (d * LN2)).abs().max())
        out["nfe"] = r.nfe
        out["divergence_evals"] = r.divergence_evals
    return out


def _study(args) -> list[dict]:
    """Max |error| (nats/dim) of the exact-divergence likelihood against log_prob at sigma_min, on small
    Gaussians (diagonal and full covariance) and three-component mixtures, per grid and step count."""
    from ..diffusion import GaussianDenoiser, GaussianMixtureDenoiser
    from ..likelihood import log_likelihood
    g = torch.Generator().manual_seed(args.seed)

    def gaussian(shape, full):
        d = math.prod(shape)
        mean = torch.randn(shape, generator=g, dtype=torch.float64)
        if full:
            a = torch.randn(d, d, generator=g, dtype=torch.float64)
            return GaussianDenoiser(mean, cov=a @ a.T / d + 0.05 * torch.eye(d, dtype=torch.float64))
        return GaussianDenoiser(mean, var=torch.rand(shape, generator=g, dtype=torch.float64) + 0.1)

    def mixture(shape):
        means = torch.randn(3, *shape, generator=g, dtype=torch.float64) * 1.5
        return GaussianMixtureDenoiser.isotropic(torch.tensor([0.5, 0.3, 0.2]), means, torch.tensor([0.3, 0.5, 0.8]))

    models = [("gaussian-diag", (1, 8), lambda s: gaussian(s, False)),
              ("gaussian-full", (2, 4, 4), lambda s: gaussian(s, True)),
              ("gaussian-full", (1, 4, 4, 4), lambda s: gaussian(s, True)),
              ("mixture-3", (1, 4, 4), mixture), ("mixture-3", (1, 64), mixture)]
    steps_list = (4, 8) if args.quick else (8, 16, 32)
    out = []
    for name, shape, make in models[:2] if args.quick else models:
        den = make(shape)
        x = den.sample(8, generator=g)
        d = x[0].numel()
        for grid in ("loglinear", "karras"):
            for n in steps_list:
                r = log_likelihood(den, x, steps=n, schedule=grid)
                err_min = (r.log_likelihood - den.log_prob(x, 0.002)).abs().max() / d
                err_0 = (r.log_likelihood - den.log_prob(x)).abs().max() / d
                out.append({"model": name, "shape": list(shape), "dim": d, "grid": grid, "steps": n, "nfe": r.nfe,
                            "max_abs_error_nats_per_dim": float(err_min),
                            "max_abs_error_vs_sigma0_nats_per_dim": float(err_0)})
    return out


def _trained(args, steps: int) -> dict:
    """A prior trained on the synthetic domain (kind "field"): its NLL and -ELBO against the exact density
    of the data it was trained on, on held-out samples; and the exact denoiser through the same integrator."""
    from ..data.synthetic import SyntheticParams, exact_denoiser, make_dataset
    from ..likelihood import elbo, log_likelihood
    from ..train import load_denoiser
    from ..utils import resolve_device
    device = resolve_device(args.device)
    den, cfg = load_denoiser(args.checkpoint, device=device)
    if cfg.data.domain != "synthetic":
        raise ValueError(f"--checkpoint {args.checkpoint}: trained on domain '{cfg.data.domain}', "
                         "the benchmark needs the synthetic domain (whose density is known)")
    params = SyntheticParams.model_validate(cfg.data.params)
    if params.kind != "field":
        raise ValueError(f"--checkpoint {args.checkpoint}: synthetic kind '{params.kind}'; needs 'field'")
    exact = exact_denoiser(params).to(device)
    x = make_dataset(params, "test").x[:8].to(device)
    d = x[0].numel()
    bpd = lambda v: float((-v / (d * LN2)).mean())                      # noqa: E731
    kw = {"divergence": "hutchinson", "probes": 4, "steps": steps}
    learned, s = _timed(lambda: log_likelihood(den, x, generator=torch.Generator().manual_seed(0), **kw))
    ref = log_likelihood(exact, x.double(), generator=torch.Generator().manual_seed(0), **kw)
    bound = elbo(den, x, steps=32, repeats=2, generator=torch.Generator().manual_seed(1))
    return {"checkpoint": str(args.checkpoint), "data": params.model_dump(), "n": len(x), "dim": d,
            "true_nll_bits_per_dim": bpd(exact.log_prob(x.double()).cpu()),
            "learned_nll_bits_per_dim": bpd(learned.log_likelihood.cpu()),
            "learned_nll_stderr_bits_per_dim": float(learned.stderr_bits_per_dim.mean()),
            "exact_model_same_integrator_bits_per_dim": bpd(ref.log_likelihood.cpu()),
            "learned_neg_elbo_bits_per_dim": bpd(bound.elbo.cpu()),
            "seconds_per_sample_learned": round(s / len(x), 3), "nfe": learned.nfe}
