"""``diffsci demo biosignal``: the embedded default, end to end, with no download.

ECG beats simulated by neurokit2 (ECGSYN) at 180 Hz, corrupted by synthetic baseline wander, muscle
artefact and 50 Hz mains at -3 to 9 dB SNR; a small conditional diffusion denoiser is trained on them
and compared with the IIR/FIR filters and wavelet shrinkage on held-out simulated records. Writes
report.json/report.md, a figure, and the denoised test signals through the domain's writers (WFDB,
CSV, HDF5).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from diffsci import Cond
from diffsci.config import DataConfig, DiffusionConfig, ExperimentConfig, SamplingConfig, TrainConfig, UNetConfig
from diffsci.report import Report
from diffsci.utils import resolve_device

from .data import SyntheticNoisyBeats, noisy_condition
from .figures import plot_denoising_examples
from .filters import fir_filter, iir_filter, wavelet_denoise
from .harness.common import sample, set_threads, train_or_load
from .io import write_csv, write_hdf5, write_wfdb
from .metrics import cos_sim, mad, prd, snr_improvement, ssd
from .simulate import simulated_beats

__all__ = ["demo", "demo_config"]

FS, LENGTH, OFFSET = 180.0, 256, 63          # 1.42 s windows, R peak 0.35 s from the start


def demo_config(quick: bool, out_dir: Path) -> ExperimentConfig:
    """The demo's conditional denoiser (quick: fewer steps)."""
    steps = 40 if quick else 600
    return ExperimentConfig(
        name="biosignal-demo" + ("-quick" if quick else ""),
        model=UNetConfig(spatial_dims=1, in_channels=1, cond_channels=1, channels=(16, 32, 64), num_res_blocks=1,
                         attention_levels=(False, False, False), norm_num_groups=8),
        diffusion=DiffusionConfig(sigma_data=0.25),
        data=DataConfig(domain="biosignal", params={"kind": "simulated", "fs": FS, "length": LENGTH}),
        train=TrainConfig(steps=steps, batch_size=32, lr=1e-3, warmup_steps=min(50, steps // 4),
                          ema_decay=0.95 if quick else 0.995, log_every=20, val_every=steps, ckpt_every=steps,
                          out_dir=str(out_dir)),
        # Euler, not Heun, on this coarse grid: see harness.denoising.sampling_setup
        sampling=SamplingConfig(sampler="euler", steps=4, sigma_max=10.0))


def demo(out_dir: str | Path, device: str = "auto", quick: bool = False) -> dict:
    """Train and evaluate the embedded default; returns a summary (also in OUT/report.json)."""
    set_threads()
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)
    n_train, dur, n_test = (2, 20.0, 40) if quick else (6, 60.0, 200)
    train_beats = simulated_beats(n_train, dur, FS, LENGTH, OFFSET, seed=0)
    test_beats = simulated_beats(2, 20.0 if quick else 40.0, FS, LENGTH, OFFSET, seed=1)[:n_test]
    test = SyntheticNoisyBeats(test_beats, FS, draws=1, seed=12345)
    pairs = [test.pair(i) for i in range(len(test))]
    clean = np.stack([p[0] for p in pairs])
    noisy = np.stack([p[1] for p in pairs])

    run_dir = out / "model"
    cfg = demo_config(quick, run_dir)
    den, info = train_or_load(cfg, SyntheticNoisyBeats(train_beats, FS, seed=0), checkpoint=None, device=str(dev),
                              progress=not quick)
    gen = torch.Generator().manual_seed(0)
    cond = Cond(channels=torch.as_tensor(noisy_condition(noisy[:, None])))
    shots = 2
    samples = sample(den, (len(clean), 1, LENGTH), cond=cond, shots=shots, steps=cfg.sampling.steps,
                     sampler=cfg.sampling.sampler, sigma_max=cfg.sampling.sigma_max, generator=gen,
                     device=dev).numpy()[:, :, 0].astype(np.float64)
    estimates = {"fir": fir_filter(noisy, fs=FS), "iir": iir_filter(noisy, fs=FS),
                 "wavelet": wavelet_denoise(noisy, fs=FS), "diffusion": samples.mean(1)}

    report = Report("biosignal", "demo", data="neurokit2 ECGSYN simulation (no download)", device=str(dev),
                    quick=quick, command="diffsci demo biosignal" + (" --quick" if quick else ""))
    summary = {}
    for method, est in estimates.items():
        vals = {"ssd": ssd(est, clean), "mad": mad(est, clean), "prd": prd(est, clean), "cos": cos_sim(est, clean),
                "snr_improvement": snr_improvement(est, noisy, clean)}
        for metric, v in vals.items():
            report.add(method, "synthetic_mix", metric, v)
        summary[method] = {k: round(float(np.mean(v)), 4) for k, v in vals.items()}
    rows = [{"title": f"simulated beat {j}", "clean": clean[j], "noisy": noisy[j],
             "estimates": {"iir": estimates["iir"][j], "diffusion": estimates["diffusion"][j]},
             "std": samples[j].std(0, ddof=1)} for j in (0, len(clean) // 2, len(clean) - 1)]
    plot_denoising_examples(out / "demo_examples.png", FS, rows)
    report.figures.append("demo_examples.png")

    # the denoised test beats, concatenated into one record, written back in three formats
    meta = {"fs": FS, "sig_name": ["denoised"], "units": ["mV"]}
    signal = estimates["diffusion"].reshape(1, -1).astype(np.float32)
    write_wfdb(out / "denoised.hea", signal, meta)
    write_csv(out / "denoised.csv", signal, meta)
    write_hdf5(out / "denoised.h5", signal, meta)
    report.extra.update({"model": info, "n_train_beats": int(len(train_beats)), "n_test_beats": int(len(clean)),
                         "written": ["denoised.hea", "denoised.csv", "denoised.h5"]})
    report.notes.append("Simulated ECG (neurokit2 ECGSYN) with synthetic baseline wander + EMG + 50 Hz mains at "
                        "-3..9 dB SNR; a demonstration of the pipeline, not a benchmark.")
    report.write(out)
    best = min(summary, key=lambda m: summary[m]["ssd"])
    return {"out": str(out), "seconds": round(time.perf_counter() - t0, 1), "best_ssd": best, "metrics": summary,
            "report": str(out / "report.json")}
