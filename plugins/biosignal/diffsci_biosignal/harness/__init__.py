"""The harnesses of ``diffsci evaluate biosignal <task>``: denoising, anomaly, augmentation, record-denoising."""

from __future__ import annotations

import argparse

__all__ = ["HARNESSES", "add_harness_args"]


def _denoising(args: argparse.Namespace) -> dict:
    """QTDB + NSTDB denoising benchmark (DeepFilter / DeScoD-ECG protocol): FIR, IIR, wavelet, diffusion."""
    from .denoising import run
    return run(args)


def _anomaly(args: argparse.Namespace) -> dict:
    """MIT-BIH beat anomaly detection, inter-patient: a prior on N beats; AUROC/AP of N vs S, V, F, Q."""
    from .anomaly import run
    return run(args)


def _augmentation(args: argparse.Namespace) -> dict:
    """MIT-BIH beat classification with 5 % real labels, plus class-conditional synthetic beats (CFG)."""
    from .augmentation import run
    return run(args)


def _record_denoising(args: argparse.Namespace) -> dict:
    """Whole QTDB test records plus NSTDB noise, truth known: the record model against FIR, IIR, wavelet."""
    from .records import run
    return run(args)


HARNESSES = {"denoising": _denoising, "anomaly": _anomaly, "augmentation": _augmentation,
             "record-denoising": _record_denoising}


def add_harness_args(task: str, parser: argparse.ArgumentParser) -> None:
    """Task-specific options of ``diffsci evaluate biosignal <task>``."""
    if task == "denoising":
        from .denoising import add_args
    elif task == "anomaly":
        from .anomaly import add_args
    elif task == "augmentation":
        from .augmentation import add_args
    elif task == "record-denoising":
        from .records import add_args
    else:
        return
    add_args(parser)
