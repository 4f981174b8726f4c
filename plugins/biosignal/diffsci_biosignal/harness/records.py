"""``diffsci evaluate biosignal record-denoising``: whole records denoised, against a truth that is known.

The benchmark (``denoising``) scores single beats zero-padded to 512 samples; a researcher denoises records
(:func:`..record.denoise_record`: overlapping windows, stitched). This harness scores that path on records
the model never saw, with the noise added by hand so the truth is known:

1. Records: the benchmark's 14 QTDB test records (:data:`..qtdb.TEST_RECORDS`, outside the training split of
   every QTDB model here), lead 0 at its own rate (250 Hz), seconds ``--seconds`` (30-90).
2. Truth: the record high-passed at ``--highpass`` Hz (2nd-order Butterworth, zero phase, over the whole
   record): ECG without its own baseline drift, which a record model (configs/biosignal_records.yaml) is
   trained to remove with the noise.
3. Noise: NSTDB bw / em / ma, the test half of the protocol's version 1
   (:func:`..noise.deepfilter_noise_split`, never seen in training), resampled to the record's rate; per record
   one random segment scaled so that its peak-to-peak is r x the clean segment's, r in {0.20, ..., 1.99}
   (the benchmark's amplitude rule; ``RandomState(--seed-noise)``, record after record, per noise).
   Noisy = the raw record segment (its own drift kept) + noise.
4. Methods: ``diffusion`` (denoise_record: K posterior samples per window averaged, windows overlapping),
   ``fir`` / ``iir`` (DeepFilter's chains at the record's rate), ``wavelet``, ``noisy`` (the input), and
   ``truth_median_windows`` (the truth through the record model's level convention, :func:`median_windows`: what
   an estimate with every window's shape right would score).
5. Metrics on the segment without ``--edge`` seconds at each end: ``rmse`` (mV), ``prd`` (%), ``cos``,
   ``snr_improvement`` (dB), and the same after each signal's median is removed (``*_aligned``: the truth's
   level is its filter's, a denoiser's its convention's; see :func:`record_metrics`); rows: mean and std over the
   records.

PRD here is the usual 100 ||y_hat - y|| / ||y||; the benchmark's DeepFilter variant (mean of a batch of beats,
estimate in the denominator; :mod:`..metrics`) has no meaning for a record.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.signal import butter, sosfiltfilt

from diffsci.report import Report
from diffsci.utils import resolve_device

from ..data import BiosignalData, make_dataset
from ..figures import plot_denoising_examples
from ..filters import fir_filter, iir_filter, wavelet_denoise
from ..io import read_wfdb
from ..metrics import cos_sim, snr_improvement
from ..noise import NSTDB_KINDS, deepfilter_noise_split, load_nstdb
from ..qtdb import TEST_RECORDS
from ..record import denoise_record, model_window, overlap_add, overlap_windows, resample_record, window_hop
from ..resample import resample
from .common import ecg_root, experiment, parse_list, say, set_threads, train_or_load
from .denoising import QUICK as BEAT_QUICK
from .denoising import sampling_setup

__all__ = ["run", "add_args", "record_metrics", "noisy_segment", "median_windows"]

QUICK = {"records": 3, "seconds": (30.0, 50.0), "shots": 2, "steps": 4, "sampler": "euler",
         "model": {**BEAT_QUICK["model"], "data": {"params": {"draws": 1}}}}


def add_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None,
                   help="a trained conditional biosignal model (run folder or checkpoint); default: train "
                        "configs/biosignal_records.yaml in --models (a finished run there is reused)")
    p.add_argument("--models", default=None, help="folder of the trained model (default OUT/models)")
    p.add_argument("--train-steps", type=int, default=None, help="override the config's training steps")
    p.add_argument("--noise", default="bw,em,ma", help="noise settings, comma-separated (default: bw,em,ma)")
    p.add_argument("--records", default=None,
                   help="QTDB test records, comma-separated (default: all 14; --quick: the first 3)")
    p.add_argument("--seconds", default=None, metavar="A,B", help="the segment of each record (default 30,90; "
                                                                  "--quick 30,50)")
    p.add_argument("--edge", type=float, default=5.0, help="seconds left out of the metrics at each end")
    p.add_argument("--highpass", type=float, default=0.5, help="high-pass of the truth, Hz (the record model's)")
    p.add_argument("--seed-noise", type=int, default=1234, help="seed of the noise amplitudes and segments")
    p.add_argument("--shots", type=int, default=None, help="posterior samples averaged (default 10; --quick 2)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the config's; --quick 4)")
    p.add_argument("--sampler", default=None, help="engine sampler (default: the config's)")
    p.add_argument("--overlap", type=float, default=0.5, help="fraction of a window shared with the next")
    p.add_argument("--batch", type=int, default=256, help="model batch size")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def record_metrics(estimate: np.ndarray, truth: np.ndarray, noisy: np.ndarray) -> dict[str, float]:
    """rmse (mV), prd (%, 100 ||e - y|| / ||y||), cos and SNR improvement (dB) of one 1D estimate; and the same
    four with ``_aligned``: each of estimate, truth and input minus its own median first.

    Why the aligned set: the truth's level is set by its high-pass (zero mean over the record), a denoiser's by its
    convention (the record model returns the isoelectric line at 0 mV, windows minus their median); the two differ
    by an offset of 0.05-0.1 mV on QTDB that no one would call an error of the ECG. Both are reported.

    >>> y = np.array([1.0, -1.0, 1.0, -1.0]); m = record_metrics(y + 0.1, y, y + 1.0)
    >>> round(m["rmse"], 6), round(m["prd"], 6), round(m["snr_improvement"], 6)     # 20 log10(1 / 0.1)
    (0.1, 10.0, 20.0)
    >>> round(m["rmse_aligned"], 6), round(m["prd_aligned"], 6)                      # a pure offset is no error
    (0.0, 0.0)
    """
    e, y, x = (np.asarray(a, dtype=np.float64) for a in (estimate, truth, noisy))
    if not (e.shape == y.shape == x.shape and e.ndim == 1):
        raise ValueError(f"estimate, truth and noisy must be 1D of one length, got {e.shape}, {y.shape}, {x.shape}")
    out = {}
    for tag, (ei, yi, xi) in (("", (e, y, x)), ("_aligned", (e - np.median(e), y - np.median(y), x - np.median(x)))):
        err = np.linalg.norm(ei - yi)
        out.update({f"rmse{tag}": float(err / np.sqrt(len(yi))),
                    f"prd{tag}": float(100 * err / np.linalg.norm(yi)),
                    f"cos{tag}": float(cos_sim(ei[None], yi[None])[0]),
                    f"snr_improvement{tag}": float(snr_improvement(ei[None], xi[None], yi[None])[0])})
    return out


def noisy_segment(clean: np.ndarray, noise: np.ndarray, rs: np.random.RandomState) -> tuple[np.ndarray, float]:
    """``clean`` plus a random segment of ``noise`` scaled to r x its peak-to-peak, r in {0.20, ..., 1.99}
    (one ``rs.randint`` for r, then one for the start, below len(noise) - len(clean)); returns (noisy, r)."""
    if len(noise) <= len(clean):
        raise ValueError(f"the noise record ({len(noise)} samples) is shorter than the segment ({len(clean)})")
    ratio = rs.randint(20, 200) / 100
    start = rs.randint(0, len(noise) - len(clean))
    n = noise[start:start + len(clean)]
    return clean + n * ratio * np.ptp(clean) / np.ptp(n), ratio


def median_windows(x: np.ndarray, fs: float, model_fs: float, length: int, hop: int) -> np.ndarray:
    """``x`` (T,) through a record model's level convention alone: resampled to ``model_fs``, cut as
    :func:`..record.denoise_record` cuts it, each window minus its median (the record model's training targets),
    stitched and resampled back. Applied to the truth, the error of an estimate that gets every window's shape
    right: the floor of the convention (method ``truth_median_windows``).

    >>> t = np.arange(2000) / 250.0; x = np.sin(2 * np.pi * 1.3 * t) + 0.2
    >>> y = median_windows(x, 250.0, 360.0, 512, 256)
    >>> y.shape, bool(abs(np.median(y) - np.median(x - 0.2)) < 0.1)           # the offset goes, the wave stays
    ((2000,), True)
    """
    xm = resample_record(np.asarray(x, dtype=np.float64)[None], fs, model_fs)
    w, starts = overlap_windows(xm, length, hop)
    y = overlap_add(w - np.median(w, axis=-1, keepdims=True), starts, xm.shape[1])
    return resample_record(y, model_fs, fs, length=len(x))[0]


def _segment(args, quick: bool) -> tuple[float, float]:
    """(start, end) in seconds of each record's segment, checked with --edge and --overlap."""
    if args.seconds is None:
        a, b = QUICK["seconds"] if quick else (30.0, 90.0)
    else:
        try:
            a, b = (float(v) for v in args.seconds.split(","))
        except ValueError:
            raise ValueError(f"--seconds: expected A,B in seconds, got {args.seconds!r}") from None
    if not args.edge >= 0:
        raise ValueError(f"--edge must be >= 0 seconds, got {args.edge}")
    if not 0 <= a < b or b - a <= 2 * args.edge:
        raise ValueError(f"--seconds {a:g},{b:g}: need 0 <= A < B with B - A > 2 x --edge ({args.edge:g} s)")
    if not 0.0 < args.overlap < 1.0:
        raise ValueError(f"--overlap must be in (0, 1), got {args.overlap}")
    return a, b


def _model(args, root: Path, out: Path, quick: bool, device):
    """(denoiser, resolved config, info): --checkpoint's, else the record config's, trained or reused."""
    from diffsci.train import load_denoiser
    if args.checkpoint:
        den, cfg = load_denoiser(args.checkpoint, device=device)
        return den, cfg, {"checkpoint": str(args.checkpoint), "trained": False, "train_steps": cfg.train.steps}
    over = {"data": {"params": {"root": str(root / "qtdb"), "nstdb_root": str(root / "nstdb")}}}
    if args.train_steps:
        over["train"] = {"steps": args.train_steps}
    models = Path(args.models) if args.models else out / "models"
    cfg = experiment("records", quick=quick, seed=args.seed, out_dir=models / ("records_quick" if quick else "records"),
                     overrides=over, quick_overrides=QUICK["model"])
    params = BiosignalData(**cfg.data.params)                         # as `diffsci train --config` builds it
    _, info = train_or_load(cfg, make_dataset(params, "train"), checkpoint=None, device=str(device),
                            progress=not args.no_progress, val_dataset=make_dataset(params, "val"))
    den, cfg = load_denoiser(info["checkpoint"], device=device)                      # with its resolved config
    return den, cfg, info


def run(args: argparse.Namespace) -> dict:
    """Whole-record denoising with a known truth: the record model against FIR, IIR and wavelet."""
    set_threads()
    t_start = time.perf_counter()
    quick = bool(args.quick)
    settings = parse_list(args.noise, NSTDB_KINDS, "--noise")
    records = parse_list(args.records, TEST_RECORDS, "--records") if args.records else \
        list(TEST_RECORDS[:QUICK["records"]] if quick else TEST_RECORDS)
    a_s, b_s = _segment(args, quick)
    if not args.highpass > 0:
        raise ValueError(f"--highpass must be > 0 Hz (the truth is the record without its drift), got {args.highpass}")
    device = resolve_device(args.device)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = ecg_root(args.data)
    qroot, nroot = root / "qtdb", root / "nstdb"

    den, cfg, info = _model(args, root, out, quick, device)
    mw = model_window(den, cfg)
    if not mw.conditional:
        raise ValueError(f"{info['checkpoint']}: record-denoising needs a conditional denoiser (model.cond_channels "
                         "set), e.g. one trained from configs/biosignal_records.yaml")
    q = QUICK if quick else {}
    sampler, steps = sampling_setup(cfg, sampler=args.sampler or q.get("sampler"), steps=args.steps or q.get("steps"))
    shots = args.shots or q.get("shots") or 10
    say(f"model {info['checkpoint']} ({mw.kind}, {mw.length} samples at {mw.fs:g} Hz); {len(records)} records, "
        f"{a_s:g}-{b_s:g} s, noise {', '.join(settings)}; {shots} shots of {steps} {sampler} steps")

    hop = window_hop(mw.length, args.overlap)                                         # as denoise_record's
    report = Report("biosignal", "record-denoising", data=str(root), device=str(device), quick=quick)
    raws = {}
    for r in records:
        rec = read_wfdb(qroot / f"{r}.hea", annotation=None)
        fs = float(rec.meta["fs"])
        raw = rec.array[0].astype(np.float64)
        a, b = int(round(a_s * fs)), int(round(b_s * fs))
        if b > len(raw):
            raise ValueError(f"{qroot / r}.hea: {len(raw) / fs:.1f} s long, shorter than --seconds {a_s:g},{b_s:g}")
        truth = sosfiltfilt(butter(2, args.highpass / (fs / 2), "highpass", output="sos"), raw)[a:b]
        raws[r] = (fs, raw[a:b], truth)
    per_record: dict = {}
    figure_rows = []
    seconds: dict[str, float] = {}
    for kind in settings:
        rec, nfs = load_nstdb(nroot, kind)
        test_half = {fs: resample(deepfilter_noise_split(rec, 1)[1][None], nfs, fs)[0]
                     for fs in {v[0] for v in raws.values()}}
        rs = np.random.RandomState(args.seed_noise)
        vals: dict[str, dict[str, list]] = {}
        for r in records:
            fs, clean, truth = raws[r]
            noisy, ratio = noisy_segment(clean, test_half[fs], rs)
            gen = torch.Generator().manual_seed(args.seed)          # sampling noise: seeded per record
            est = {"noisy": noisy, "truth_median_windows": median_windows(truth, fs, mw.fs, mw.length, hop)}
            t0 = time.perf_counter()
            est["diffusion"] = denoise_record(den, cfg, noisy[None], fs, shots=shots, steps=steps, sampler=sampler,
                                              overlap=args.overlap, generator=gen, batch=args.batch, device=device,
                                              progress=False)[0].astype(np.float64)
            seconds["diffusion"] = seconds.get("diffusion", 0.0) + time.perf_counter() - t0
            for name, fn in (("fir", fir_filter), ("iir", iir_filter), ("wavelet", wavelet_denoise)):
                t0 = time.perf_counter()
                est[name] = fn(noisy[None], fs=fs)[0]
                seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
            m = slice(int(round(args.edge * fs)), len(truth) - int(round(args.edge * fs)))
            for method, e in est.items():
                for metric, v in record_metrics(e[m], truth[m], noisy[m]).items():
                    vals.setdefault(method, {}).setdefault(metric, []).append(v)
            per_record.setdefault(kind, {})[r] = {"ratio": ratio, **{k: vals[k]["prd"][-1] for k in vals},
                                                  "aligned": {k: vals[k]["prd_aligned"][-1] for k in vals}}
            say(f"{kind} {r} (noise {ratio:.2f} x p-p): PRD " +
                ", ".join(f"{k} {vals[k]['prd'][-1]:.1f}" for k in est))
            if r == records[0]:
                w = slice(m.start, m.start + int(round(4 * fs)))
                figure_rows.append({"title": f"{kind}, record {r}, noise {ratio:.2f} x p-p", "clean": truth[w],
                                    "noisy": noisy[w], "estimates": {"iir": est["iir"][w],
                                                                     "diffusion": est["diffusion"][w]}})
        for method, d in vals.items():
            for metric, v in d.items():
                if not (method == "noisy" and metric.startswith("snr_improvement")):
                    report.add(method, kind, metric, v)
    if figure_rows:
        plot_denoising_examples(out / "record_examples.png", raws[records[0]][0], figure_rows)
        report.figures.append("record_examples.png")
    report.extra.update({
        "protocol": {"records": records, "seconds": [a_s, b_s], "edge_s": args.edge, "highpass_hz": args.highpass,
                     "noise": "NSTDB test half of version 1, one random segment per record, 0.20-1.99 x p-p",
                     "seed_noise": args.seed_noise},
        "model": {**info, "kind": mw.kind, "fs": mw.fs, "window": mw.length, "train_noise": list(mw.noise)},
        "sampling": {"sampler": sampler, "steps": steps, "shots": shots, "overlap": args.overlap, "seed": args.seed},
        "per_record_prd": per_record,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "wall_seconds": round(time.perf_counter() - t_start, 1)})
    report.notes += [
        f"Truth: each record high-passed at {args.highpass:g} Hz (zero phase); the input: the raw record (own drift "
        "kept) plus NSTDB noise from the test half of version 1. Metrics over the segment minus "
        f"{args.edge:g} s at each end; PRD = 100 ||y_hat - y|| / ||y||. *_aligned: the same after each signal's "
        "median over that segment is removed (the truth's level comes from its high-pass, a denoiser's from its "
        "convention: a record model returns the isoelectric line at 0 mV; on QTDB the two differ by 0.05-0.1 mV).",
        "Model kind " + (f"{mw.kind}: windows of the 91 training records, the record model." if
                         mw.kind == "qtdb_windows_noisy" else
                         f"{mw.kind}: not a model of record windows (configs/biosignal_records.yaml is)."),
    ]
    if quick:
        report.notes.append("--quick: a small model trained for a few hundred steps, 3 records, 20 s; not the "
                            "result.")
    return report.write(out)
