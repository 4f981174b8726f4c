"""The condition passed to every denoiser and network: class label, scalar descriptors, extra channels."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

__all__ = ["Cond"]


@dataclass(frozen=True)
class Cond:
    """Conditioning of a batch of B samples. Every field is optional.

    Args:
        label: (B,) int64 class indices.
        scalars: (B, S) float descriptors, e.g. porosity.
        channels: (B, C_extra, *spatial) extra input channels concatenated to the network input
            (measurement-conditioned models: y or A^H y).
        dropped: (B,) bool; True where label and scalars are replaced by the learned "null"
            condition (classifier-free guidance, Ho & Salimans 2022). Channels are never dropped.
    """

    label: Tensor | None = None
    scalars: Tensor | None = None
    channels: Tensor | None = None
    dropped: Tensor | None = None

    def _tensors(self):
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def batch_size(self) -> int | None:
        t = self._tensors()
        return next(iter(t.values())).shape[0] if t else None

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> "Cond":
        def move(name: str, t: Tensor) -> Tensor:
            if dtype is not None and t.is_floating_point() and name in ("scalars", "channels"):
                return t.to(device=device, dtype=dtype)
            return t.to(device)
        return replace(self, **{k: move(k, v) for k, v in self._tensors().items()})

    def drop(self, mask: Tensor | bool = True) -> "Cond":
        """Mark samples (mask (B,) bool, or all) as unconditional for label and scalars."""
        b = self.batch_size
        if b is None:
            return self
        ref = next(iter(self._tensors().values()))
        mask = torch.as_tensor(mask, device=ref.device, dtype=torch.bool).expand(b)
        if self.dropped is not None:
            mask = mask | self.dropped
        return replace(self, dropped=mask)

    def index(self, idx) -> "Cond":
        return replace(self, **{k: v[idx] for k, v in self._tensors().items()})

    def repeat_interleave(self, k: int) -> "Cond":
        """Repeat every sample k times (multi-shot sampling: sample i -> rows i*k ... i*k+k-1)."""
        return replace(self, **{n: v.repeat_interleave(k, dim=0) for n, v in self._tensors().items()})

    @staticmethod
    def cat(conds: list["Cond"]) -> "Cond":
        """Concatenate along the batch; a ``dropped`` mask absent in some parts counts as all False."""
        names = {n for c in conds for n in c._tensors()}
        out = {}
        for n in names - {"dropped"}:
            if any(getattr(c, n) is None for c in conds):
                raise ValueError(f"cannot concatenate conditions where only some have '{n}'")
            out[n] = torch.cat([getattr(c, n) for c in conds])
        if "dropped" in names:
            out["dropped"] = torch.cat([c.dropped if c.dropped is not None else c.drop(False).dropped
                                        for c in conds])
        return Cond(**out)

    @staticmethod
    def from_batch(batch: dict, device: torch.device | str | None = None) -> "Cond | None":
        """Build a Cond from a dataset batch dict with optional keys label, scalars, channels."""
        kw = {k: batch[k] for k in ("label", "scalars", "channels") if k in batch and batch[k] is not None}
        if not kw:
            return None
        c = Cond(**kw)
        return c.to(device) if device is not None else c
