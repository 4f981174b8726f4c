"""diffsci_biosignal: 1D biomedical signals (ECG) for diffsci.

Readers and writers (WFDB + annotations, CSV, EDF, HDF5, NumPy), resampling and beat windows, AAMI beat
classes, real (NSTDB) and synthetic noise, the classical filter baselines and the metrics of the ECG
denoising literature, and four harnesses::

    diffsci evaluate biosignal denoising    --out DIR [--quick]   # QTDB + NSTDB (DeepFilter protocol)
    diffsci evaluate biosignal anomaly      --out DIR [--quick]   # MIT-BIH, prior on N beats
    diffsci evaluate biosignal augmentation --out DIR [--quick]   # MIT-BIH, class-conditional CFG
    diffsci evaluate biosignal record-denoising --out DIR [--checkpoint RUN]  # whole QTDB records, truth known
    diffsci demo biosignal                                        # simulated ECG, no download

and two tasks that apply a trained model to one record of any supported format (:mod:`.record`)::

    diffsci evaluate biosignal denoise-record --checkpoint RUN --record m.hea --out DIR [--noise bw]
    diffsci evaluate biosignal score-record   --checkpoint RUN --record m.hea --out DIR
"""

from __future__ import annotations

import numpy as np

from diffsci.domains import Domain, Loaded
from diffsci.utils import config_dir

from .aami import AAMI_CLASSES, aami_class, aami_labels
from .data import BiosignalData, make_dataset
from .harness import HARNESSES, add_harness_args
from .io import READERS, WRITERS
from .metrics import cos_sim, mad, prd, snr, ssd
from .operators import OPERATORS
from .record import TASKS as RECORD_TASKS
from .record import add_args as _record_args

__version__ = "0.1.0"
__all__ = ["domain", "AAMI_CLASSES", "aami_class", "aami_labels", "BiosignalData", "make_dataset"]

_CONFIGS = config_dir()


def _example() -> dict[str, Loaded]:
    """Two leads of 2 s at 100 Hz whose values are multiples of 1/200 mV (exact in WFDB's digital units)."""
    t = np.arange(200) / 100.0
    x = np.stack([np.sin(2 * np.pi * 1.2 * t), 0.5 * np.cos(2 * np.pi * 3.0 * t)])
    x = (np.round(x * 200) / 200).astype(np.float32)
    meta = {"fs": 100.0, "sig_name": ["MLII", "V1"], "units": ["mV", "mV"], "adc_gain": [200.0, 200.0],
            "baseline": [0, 0], "annotations": {"extension": "atr", "sample": np.array([20, 103, 180]),
                                                "symbol": ["N", "V", "N"]}}
    return {".hea": Loaded(x, meta), ".csv": Loaded(x, {k: meta[k] for k in ("fs", "sig_name", "units")}),
            ".h5": Loaded(x, {k: meta[k] for k in ("fs", "sig_name", "units")}),
            ".npy": Loaded(x, {"fs": 100.0})}


def _add_harness_args(task: str, parser) -> None:
    """Options of ``diffsci evaluate biosignal <task>``: the harnesses' and the record tasks'."""
    if task in RECORD_TASKS:
        _record_args(task, parser)
    else:
        add_harness_args(task, parser)


def _demo(out_dir, device="auto", quick=False) -> dict:
    from .demo import demo
    return demo(out_dir, device, quick)


domain = Domain(
    name="biosignal",
    spatial_dims=(1,),
    description="1D biomedical signals (ECG): WFDB/EDF/CSV/HDF5; denoising, beat anomaly and augmentation harnesses; "
                "denoise or score a record",
    data_config=BiosignalData,
    make_dataset=make_dataset,
    normalisation="(C, T) float32 in physical units (mV); windows have their median (or, for the QTDB "
                  "benchmark beats, the mean of their end points) removed; no amplitude scaling",
    readers=dict(READERS),
    writers=dict(WRITERS),
    operators=dict(OPERATORS),
    metrics={"ssd": ssd, "mad": mad, "prd": prd, "cos": cos_sim, "snr": snr},
    harnesses={**HARNESSES, **RECORD_TASKS},
    demo=_demo,
    configs={p.stem.removeprefix("biosignal_"): p for p in sorted(_CONFIGS.glob("biosignal_*.yaml"))},
    add_harness_args=_add_harness_args,
    example=_example,
    metadata={"version": __version__,
              "changelog": {"0.1.0": "readers/writers, noise, baselines, metrics, three harnesses, demo"},
              "input": "ECG records: WFDB (.hea/.dat/.atr), CSV (time + one column per lead), EDF/BDF, HDF5 "
                       "('signal' (C, T) + fs attribute), NumPy (+ .npy.json sidecar)",
              "output": "denoised signals as WFDB, CSV, HDF5 or NumPy; reports as JSON + Markdown + PNG",
              "sampling_rate": "360 Hz (QTDB benchmark), 120 Hz (MIT-BIH beat models)"},
)
