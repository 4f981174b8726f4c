"""The built-in ``synthetic`` domain: Gaussian random fields and mixtures with KNOWN scores, 1D/2D/3D.

It serves the tests (closed-form denoisers to hold learned ones against) and ``diffsci demo``: train a
small UNet on a 2D random field, sample it, and compare the learned denoiser and samples with the
exact ones. The data and the exact denoisers live in :mod:`diffsci.data.synthetic`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .config import DataConfig, DiffusionConfig, ExperimentConfig, SamplingConfig, TrainConfig, UNetConfig
from .data.synthetic import (SyntheticParams, exact_denoiser, expected_power_spectrum, make_dataset,
                             radial_power_spectrum)
from .domains import Domain, Loaded
from .io import load_array, save_array, save_figure, save_samples
from .utils import config_dir

__all__ = ["domain", "demo", "demo_config", "SyntheticParams", "exact_denoiser", "make_dataset"]

_CONFIGS = config_dir()


# --- readers, writers, example -----------------------------------------------------------------------
def _read(path: Path) -> Loaded:
    array, meta = load_array(path)
    return Loaded(array, meta)


def _write(path: Path, array: np.ndarray, meta: dict) -> None:
    save_array(path, array, meta)


def _example() -> dict[str, Loaded]:
    x = make_dataset(SyntheticParams(spatial_dims=2, size=8, n_samples=3), "train").x.numpy()
    meta = {"kind": "field", "alpha": 3.0, "shape": [1, 8, 8], "note": "example"}
    return {".npy": Loaded(x), ".h5": Loaded(x, meta), ".hdf5": Loaded(x[:1], meta)}


# --- metrics ---------------------------------------------------------------------------------------
def mse(estimate, reference) -> float:
    """Mean squared difference."""
    return float(np.mean((np.asarray(estimate, np.float64) - np.asarray(reference, np.float64)) ** 2))


def spectrum_log_error(samples, reference) -> float:
    """Mean over |k| bins of |ln P_samples(k) - ln P_reference(k)| (radially averaged power spectra of two
    sample sets (N, C, *spatial), or of samples and a reference spectrum given as a 1-D array)."""
    _, p = radial_power_spectrum(samples)
    ref = np.asarray(reference, np.float64)
    q = ref if ref.ndim == 1 else radial_power_spectrum(ref)[1]
    return float(np.mean(np.abs(np.log(p) - np.log(q))))


def variance_ratio(samples, reference) -> float:
    """Pixel variance of the samples over that of the reference samples."""
    return float(np.var(np.asarray(samples, np.float64)) / np.var(np.asarray(reference, np.float64)))


# --- demo ------------------------------------------------------------------------------------------
def demo_config(quick: bool = False) -> ExperimentConfig:
    """The demo's experiment: a small circular-padded UNet on a 32x32 periodic Gaussian field (quick: 16x16,
    a smaller network and 30 steps). configs/synthetic_field_2d.yaml holds the full one."""
    if quick:
        return ExperimentConfig(
            name="synthetic-field-2d-quick",
            model=UNetConfig(spatial_dims=2, in_channels=1, channels=(8, 16), num_res_blocks=1,
                             attention_levels=(False, False), num_head_channels=8, padding_mode="circular"),
            data=DataConfig(domain="synthetic", params={"kind": "field", "spatial_dims": 2, "size": 16,
                                                        "n_samples": 64, "n_val": 16}),
            train=TrainConfig(steps=30, batch_size=8, lr=2e-3, warmup_steps=5, ema_decay=0.9, log_every=10,
                              val_every=30, val_batches=2, ckpt_every=30, out_dir="runs/demo-synthetic/run-quick"),
            sampling=SamplingConfig(sampler="heun", steps=6))
    return ExperimentConfig(
        name="synthetic-field-2d",
        model=UNetConfig(spatial_dims=2, in_channels=1, channels=(16, 32), num_res_blocks=1,
                         attention_levels=(False, False), num_head_channels=16, padding_mode="circular"),
        diffusion=DiffusionConfig(sigma_data=0.5),
        data=DataConfig(domain="synthetic", params={"kind": "field", "spatial_dims": 2, "size": 32,
                                                    "n_samples": 2048, "n_val": 128}),
        train=TrainConfig(steps=600, batch_size=16, lr=2e-3, warmup_steps=50, ema_decay=0.99, log_every=50,
                          val_every=200, val_batches=4, ckpt_every=200, out_dir="runs/demo-synthetic/run"),
        sampling=SamplingConfig(sampler="heun", steps=32))


def demo(out_dir: str | Path, device: str = "auto", quick: bool = False) -> dict:
    """Train a small UNet on a 2D Gaussian field, sample it with Heun, compare with the exact model.

    Writes OUT/run (checkpoints), OUT/samples.{npy,h5,png}, OUT/spectrum.png, OUT/summary.json and
    OUT/report.{json,md}; returns the summary.
    """
    from .diffusion.schedules import karras_sigmas
    from .report import Report
    from .samplers import generate, get_sampler
    from .train import load_denoiser, train
    from .utils import resolve_device

    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg = demo_config(quick)
    params = SyntheticParams.model_validate(cfg.data.params)
    dev = resolve_device(device)
    report = Report("synthetic", "demo", data=f"generated: {params.model_dump_json()}", device=str(dev),
                    quick=quick, command=f"diffsci demo synthetic{' --quick' if quick else ''}")  # clock: whole demo
    run_dir = out / ("run-quick" if quick else "run")
    existing = (run_dir / "latest").exists()                          # re-running the demo continues its run
    result = train(cfg, device=dev, progress=not quick, out_dir=run_dir, resume=existing)
    denoiser, _ = load_denoiser(result.run_dir, device=dev)
    exact = exact_denoiser(params).to(dev)

    # 1. Denoiser error against the exact (Wiener) denoiser on held-out fields, fixed noise.
    x0 = make_dataset(params, "test").x.to(dev).double()
    gen = torch.Generator().manual_seed(0)
    rows = []
    with torch.no_grad():
        for s in (0.05, 0.1, 0.2, 0.5, 1.0, 2.0):
            x = x0 + s * torch.randn(x0.shape, generator=gen, dtype=x0.dtype).to(dev)
            d_exact = exact(x, s)
            d_learned = denoiser(x.float(), s).double()
            row = {"sigma": s,
                   "learned_vs_exact": float((d_learned - d_exact).pow(2).mean()),
                   "identity_vs_exact": float((x - d_exact).pow(2).mean()),
                   "learned_vs_clean": float((d_learned - x0).pow(2).mean()),
                   "exact_vs_clean": float((d_exact - x0).pow(2).mean())}
            rows.append(row)
            per = lambda a, b: (a - b).pow(2).flatten(1).mean(1).cpu().numpy()  # noqa: E731
            report.add("learned", f"sigma={s}", "mse_vs_exact", per(d_learned, d_exact))
            report.add("identity", f"sigma={s}", "mse_vs_exact", per(x, d_exact))
            report.add("learned", f"sigma={s}", "mse_vs_clean", per(d_learned, x0))
            report.add("exact", f"sigma={s}", "mse_vs_clean", per(d_exact, x0))

    # 2. Samples: the learned model and the exact denoiser through the same sampler, and true draws.
    n = 8 if quick else 64
    samp = cfg.sampling
    shape = (n, *params.shape)
    with torch.no_grad():
        learned = generate(denoiser, shape, sampler=samp.sampler, steps=samp.steps, sigma_min=samp.sigma_min,
                           sigma_max=samp.sigma_max, generator=torch.Generator().manual_seed(1), device=dev)
        sigmas = karras_sigmas(samp.steps, samp.sigma_min, samp.sigma_max, device=dev)
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64).to(dev)
        exact_sampled = get_sampler(samp.sampler)(exact, noise * sigmas[0], sigmas)
        truth = exact.sample(n, generator=torch.Generator().manual_seed(2))
    learned, exact_sampled, truth = (t.cpu().double().numpy() for t in (learned, exact_sampled, truth))
    k, p_true = expected_power_spectrum(params)
    stats = {}
    for name, s in (("learned", learned), ("exact_sampler", exact_sampled), ("true_draws", truth)):
        stats[name] = {"mean": float(s.mean()), "variance": float(s.var()),
                       "spectrum_log_error": spectrum_log_error(s, p_true)}
        report.add(name, "samples", "mean", s.reshape(n, -1).mean(1))
        report.add(name, "samples", "variance", s.reshape(n, -1).var(1))
        report.add_row(name, "samples", "spectrum_log_error", stats[name]["spectrum_log_error"], None, n)
    stats["truth"] = {"mean": params.mean, "variance": params.std ** 2}

    files = [p.name for p in save_samples(out / "samples.npy", learned.astype(np.float32),
                                          title=f"{min(n, 16)} of {n} samples, {samp.sampler} {samp.steps} steps")]
    save_array(out / "samples.h5", learned.astype(np.float32),
               {"sampler": samp.sampler, "steps": samp.steps, "shape": list(params.shape), "checkpoint":
                str(result.checkpoint)})
    files.append("samples.h5")
    _spectrum_figure(out / "spectrum.png", k, p_true, {"learned": learned, "exact sampler": exact_sampled,
                                                       "true draws": truth})
    files.append("spectrum.png")
    save_figure(out / "true_draws.png", truth[:16], title="exact draws (for comparison)")
    files.append("true_draws.png")
    report.figures += ["samples.png", "spectrum.png", "true_draws.png"]
    report.notes.append("mse_vs_exact: mean squared difference to the exact (Wiener-filter) denoiser of the "
                        "field; the identity row is the error of returning the noisy input.")
    summary = {"domain": "synthetic", "quick": quick, "device": str(dev), "data": params.model_dump(),
               "train": {"steps": result.step, "seconds": round(result.seconds, 1),
                         "final_loss": result.losses[-1] if result.losses else None, "val_loss": result.val_loss,
                         "run_dir": str(result.run_dir), "continued_existing_run": existing},
               "denoiser_mse": rows,
               "samples": {"n": n, "sampler": samp.sampler, "steps": samp.steps, **stats},
               "files": files + ["summary.json", "report.json", "report.md"]}
    report.extra["summary"] = summary
    report.write(out)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _spectrum_figure(path: Path, k: np.ndarray, p_true: np.ndarray, sets: dict[str, np.ndarray]) -> None:
    from .figures import pyplot, save
    fig, ax = pyplot().subplots(figsize=(5, 3.5))
    ax.loglog(k[1:], p_true[1:], "k-", lw=2, label="exact")
    for name, s in sets.items():
        kk, p = radial_power_spectrum(s)
        ax.loglog(kk[1:], p[1:], "--" if name != "learned" else "-", label=name)
    ax.set_xlabel("|k| (cycles per box)")
    ax.set_ylabel("power")
    ax.legend(fontsize=8)
    save(fig, path, dpi=100)


def _harness_prior(args) -> dict:
    """Train the demo prior and compare it with the exact Gaussian-field model (report.json rows)."""
    demo(Path(args.out), args.device, args.quick)
    return json.loads((Path(args.out) / "report.json").read_text())


domain = Domain(
    name="synthetic",
    spatial_dims=(1, 2, 3),
    description="Gaussian random fields and mixtures with known scores (tests and demo)",
    data_config=SyntheticParams,
    make_dataset=make_dataset,
    normalisation="generated directly in model units: fields of marginal std `std` (default 0.5 = sigma_data)",
    readers={".npy": _read, ".h5": _read, ".hdf5": _read},
    writers={".npy": _write, ".h5": _write, ".hdf5": _write},
    metrics={"mse": mse, "spectrum_log_error": spectrum_log_error, "variance_ratio": variance_ratio},
    harnesses={"prior": _harness_prior},
    demo=demo,
    configs={p.stem: p for p in sorted(_CONFIGS.glob("synthetic_*.yaml"))} if _CONFIGS.is_dir() else {},
    example=_example,
    metadata={"version": "0.1.0", "input": ".npy / .h5 arrays (N, C, *spatial)", "output": ".npy / .h5 + PNG"},
)
