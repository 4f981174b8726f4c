"""Input checks shared by the metrics: scores and labels as flat float / bool numpy arrays."""

from __future__ import annotations

import numpy as np


def as_numpy(a, name: str) -> np.ndarray:
    """A torch tensor, list or array as a numpy array (tensors are detached and moved to the CPU)."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def scores_and_labels(scores, labels, what: str = "scores") -> tuple[np.ndarray, np.ndarray]:
    """Flatten, check equal size, finite scores and binary labels with both classes present."""
    s = as_numpy(scores, what).astype(np.float64).reshape(-1)
    y = as_numpy(labels, "labels").reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"{what} has {s.size} values but labels has {y.size} "
                         f"(shapes {np.shape(as_numpy(scores, what))} and {np.shape(as_numpy(labels, 'labels'))})")
    if not np.isfinite(s).all():
        raise ValueError(f"{what}: {int((~np.isfinite(s)).sum())} non-finite values (NaN/Inf)")
    if y.dtype != bool:
        u = np.unique(y)
        if not np.isin(u, (0, 1)).all():
            raise ValueError(f"labels must be binary (0/1 or bool), got values {u[:5].tolist()}")
        y = y.astype(bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise ValueError(f"labels need both classes (got {n_pos} positives of {y.size}); "
                         "AUROC/AP are undefined otherwise")
    return s, y
