"""In-memory array datasets: the common currency between domain plugins and the training loop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..utils import check_finite

__all__ = ["ArrayDataset"]


class ArrayDataset(Dataset):
    """Samples of shape (C, *spatial) with optional class labels and scalar conditions.

    Items are dicts ``{"x": float32 (C, *spatial), "label": int64, "scalars": float32 (S,)}``
    (label and scalars only when given), the format the training loop expects.

    Args:
        x: (N, C, *spatial) array.
        label: optional (N,) integer class labels.
        scalars: optional (N, S) scalar conditions.
        source: name of the file(s) the data came from, used in error messages. Non-finite values are
            an error naming the source and the sample index.
        sources: optional per-sample source names (e.g. the record of each beat), used in errors.
    """

    def __init__(self, x, label=None, scalars=None, *, source: str = "array",
                 sources: Sequence[str] | None = None):
        x = np.asarray(x)
        if x.ndim < 3:
            raise ValueError(f"{source}: expected (N, C, *spatial) with at least one spatial axis, "
                             f"got shape {x.shape}")
        try:
            check_finite(x, source)
        except ValueError as e:
            if sources is not None:
                idx = int(str(e).split("sample ")[1].split()[0])
                raise ValueError(f"{sources[idx]}: {e}") from None
            raise
        self.x = torch.as_tensor(x, dtype=torch.float32)
        n = len(self.x)
        self.label = None if label is None else torch.as_tensor(np.asarray(label), dtype=torch.int64)
        self.scalars = None if scalars is None else torch.as_tensor(np.asarray(scalars), dtype=torch.float32)
        if self.scalars is not None and self.scalars.ndim == 1:
            self.scalars = self.scalars[:, None]
        for name, t in (("label", self.label), ("scalars", self.scalars)):
            if t is not None and len(t) != n:
                raise ValueError(f"{source}: {name} has {len(t)} entries for {n} samples")
        self.source, self.sources = source, sources

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        item = {"x": self.x[i]}
        if self.label is not None:
            item["label"] = self.label[i]
        if self.scalars is not None:
            item["scalars"] = self.scalars[i]
        return item

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])
