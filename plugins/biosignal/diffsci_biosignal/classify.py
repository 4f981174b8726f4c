"""A small beat classifier (1D CNN) and its metrics: the downstream task of the augmentation harness."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["BeatCNN", "train_classifier", "predict", "macro_f1", "per_class_recall", "jitter"]


class BeatCNN(nn.Module):
    """Three strided convolutions, average pooling to ``positions`` cells, a linear layer (~38k parameters).

    The pooled map keeps WHERE things happen in the window (the neighbouring R peaks of a +-1.6 s window
    encode the RR intervals, hence prematurity); global pooling threw that away and reached macro-F1 0.30
    instead of 0.385 on the 5 % MIT-BIH quick split (two seeds, runs/bio-diag/cls.py).
    """

    def __init__(self, n_classes: int, in_channels: int = 1, width: int = 16, positions: int = 12):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv1d(in_channels, w, 7, stride=2, padding=3), nn.BatchNorm1d(w), nn.ReLU(),
            nn.Conv1d(w, 2 * w, 7, stride=2, padding=3), nn.BatchNorm1d(2 * w), nn.ReLU(),
            nn.Conv1d(2 * w, 4 * w, 5, stride=2, padding=2), nn.BatchNorm1d(4 * w), nn.ReLU(),
            nn.AdaptiveAvgPool1d(positions))
        self.head = nn.Linear(4 * w * positions, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def train_classifier(x: np.ndarray, y: np.ndarray, n_classes: int, *, seed: int = 0, epochs: int = 30,
                     batch_size: int = 64, lr: float = 2e-3, balanced: bool = True,
                     augment=None, steps: int | None = None) -> BeatCNN:
    """Train :class:`BeatCNN` on (N, 1, L) windows with class-balanced cross-entropy (weights 1 / frequency).

    ``augment``: optional ``(x_batch np, rng) -> x_batch`` applied to every batch (e.g. :func:`jitter`).
    ``steps``: optimiser steps (default ``epochs`` passes over ``x``), e.g. to give training sets of different
    sizes the same budget.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = BeatCNN(n_classes, in_channels=x.shape[1])
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / np.maximum(counts, 1) / n_classes, 0.0) if balanced else np.ones(n_classes)
    loss_fn = nn.CrossEntropyLoss(weight=torch.as_tensor(w, dtype=torch.float32))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = max(1, steps if steps is not None else epochs * int(np.ceil(len(x) / batch_size)))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)
    net.train()
    step = 0
    while step < steps:
        perm = torch.randperm(len(x), generator=g)
        for lo in range(0, len(x), batch_size):
            idx = perm[lo:lo + batch_size]
            if len(idx) < 2:
                continue
            xb = xt[idx]
            if augment is not None:
                xb = torch.as_tensor(augment(xb.numpy(), rng), dtype=torch.float32)
            loss = loss_fn(net(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step >= steps:
                break
    return net.eval()


@torch.no_grad()
def predict(net: nn.Module, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Class indices (N,) of the argmax logit."""
    net.eval()
    out = [net(torch.as_tensor(x[lo:lo + batch], dtype=torch.float32)).argmax(1) for lo in range(0, len(x), batch)]
    return torch.cat(out).numpy()


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: list[int]) -> float:
    """Unweighted mean over ``classes`` of F1 = 2 TP / (2 TP + FP + FN) (sklearn's macro F1, labels=classes).

    >>> macro_f1(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), [0, 1])      # F1: 2/3 and 4/5
    0.7333333333333334
    """
    from sklearn.metrics import f1_score
    return float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0))


def per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, classes: list[int]) -> dict[int, float]:
    """TP / (TP + FN) per class (NaN for a class absent from y_true)."""
    return {c: float(np.mean(y_pred[y_true == c] == c)) if np.any(y_true == c) else float("nan") for c in classes}


def jitter(x: np.ndarray, rng: np.random.Generator, scale: float = 0.1, noise: float = 0.02,
           shift: int = 6) -> np.ndarray:
    """Classical augmentation: random amplitude scaling (1 +- scale), white noise (std ``noise`` mV) and a
    circular time shift of up to ``shift`` samples, per window."""
    b = x.shape[0]
    out = x * rng.uniform(1 - scale, 1 + scale, (b, 1, 1)) + rng.normal(0, noise, x.shape)
    shifts = rng.integers(-shift, shift + 1, b)
    return np.stack([np.roll(o, s, axis=-1) for o, s in zip(out, shifts)]).astype(np.float32)
