"""Embeddings of the noise level and of the condition (class label, scalar descriptors).

The network sees one vector ``emb`` of size ``emb_dim`` per sample, the sum of

- the noise-level embedding: Fourier features of ``noise_level`` (EDM's c_noise = ln(sigma) / 4) -> MLP;
- the label embedding: a table with ``num_classes + 1`` rows, the last one the learned NULL label;
- the scalars embedding: an MLP of the (B, S) descriptors, or a learned NULL vector.

Where ``cond.dropped`` is True (classifier-free guidance, Ho & Salimans 2022) the label and scalars are
replaced by their NULL embeddings; a model built with labels/scalars that gets no ``cond`` (or a cond
without that field) also uses NULL, i.e. the unconditional model.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..conditioning import Cond

__all__ = ["FourierFeatures", "NoiseEmbedding", "ConditionEmbedding"]


class FourierFeatures(nn.Module):
    r"""[cos(w_k t), sin(w_k t)] with fixed angular frequencies w_k geometric in [w_min, w_max].

    Positional features as in the Transformer / ADM timestep embedding (Vaswani et al. 2017), but with
    the frequency band chosen for EDM's c_noise = ln(sigma)/4, which spans about [-1.6, 1.1] for
    sigma in [0.002, 80]: the lowest frequency (0.5 rad/unit) varies slowly over that whole range,
    the highest (200 rad/unit) resolves a change of sigma of about 2%.

    >>> FourierFeatures(8)(torch.zeros(3)).shape
    torch.Size([3, 8])
    """

    def __init__(self, dim: int, w_min: float = 0.5, w_max: float = 200.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"FourierFeatures needs an even dim, got {dim}")
        half = dim // 2
        w = torch.exp(torch.linspace(math.log(w_min), math.log(w_max), half, dtype=torch.float64))
        self.register_buffer("freqs", w.float(), persistent=False)

    def forward(self, t: Tensor) -> Tensor:
        arg = t.float()[:, None] * self.freqs[None, :]
        return torch.cat([arg.cos(), arg.sin()], dim=1)


class NoiseEmbedding(nn.Module):
    """noise_level (B,) -> (B, emb_dim): Fourier features of width ``feat_dim`` then a 2-layer SiLU MLP."""

    def __init__(self, feat_dim: int, emb_dim: int):
        super().__init__()
        self.features = FourierFeatures(feat_dim)
        self.mlp = nn.Sequential(nn.Linear(feat_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

    def forward(self, noise_level: Tensor) -> Tensor:
        f = self.features(noise_level)
        return self.mlp(f.to(self.mlp[0].weight.dtype))


class ConditionEmbedding(nn.Module):
    """Label and/or scalar conditioning -> (B, emb_dim), NULL where dropped or absent.

    Args:
        emb_dim: width of the embedding.
        num_classes: number of class labels (None: no label conditioning). Row ``num_classes`` of the
            table is the learned NULL label.
        num_scalars: length S of the scalar descriptor vector (0: none).
    """

    def __init__(self, emb_dim: int, num_classes: int | None = None, num_scalars: int = 0):
        super().__init__()
        self.num_classes, self.num_scalars = num_classes, int(num_scalars)
        self.label = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        if num_scalars:
            self.scalars = nn.Sequential(nn.Linear(num_scalars, emb_dim), nn.SiLU(),
                                         nn.Linear(emb_dim, emb_dim))
            self.scalars_null = nn.Parameter(torch.zeros(emb_dim))
        else:
            self.scalars, self.scalars_null = None, None

    @property
    def active(self) -> bool:
        return self.label is not None or self.scalars is not None

    def forward(self, cond: Cond | None, batch: int, device: torch.device) -> Tensor | None:
        """Sum of the label and scalars embeddings (None when the model has neither)."""
        if cond is not None:
            self._check(cond, batch)
        if not self.active:
            return None
        dropped = cond.dropped if cond is not None and cond.dropped is not None else None
        out = 0
        if self.label is not None:
            label = cond.label if cond is not None and cond.label is not None else None
            idx = torch.full((batch,), self.num_classes, device=device, dtype=torch.long)
            if label is not None:
                idx = label.to(device=device, dtype=torch.long)
                if dropped is not None:
                    idx = torch.where(dropped.to(device), torch.full_like(idx, self.num_classes), idx)
            out = out + self.label(idx)
        if self.scalars is not None:
            null = self.scalars_null.expand(batch, -1)
            s = cond.scalars if cond is not None and cond.scalars is not None else None
            if s is None:
                e = null
            else:
                e = self.scalars(s.to(device=device, dtype=self.scalars_null.dtype))
                if dropped is not None:
                    e = torch.where(dropped.to(device)[:, None], null, e)
            out = out + e
        return out

    def _check(self, cond: Cond, batch: int) -> None:
        if cond.label is not None:
            if self.label is None:
                raise ValueError("cond.label was given, but the model was built without labels "
                                 "(num_classes=None); set num_classes or drop the label")
            if cond.label.shape != (batch,):
                raise ValueError(f"cond.label must have shape ({batch},), got {tuple(cond.label.shape)}")
            if cond.label.is_floating_point():
                raise ValueError(f"cond.label must hold integer class indices, got dtype {cond.label.dtype}")
            lo, hi = (int(cond.label.min()), int(cond.label.max())) if cond.label.numel() else (0, 0)
            if lo < 0 or hi >= self.num_classes:
                raise ValueError(f"cond.label values must lie in [0, {self.num_classes}), got [{lo}, {hi}]")
        if cond.scalars is not None:
            if self.scalars is None:
                raise ValueError("cond.scalars was given, but the model was built without scalars "
                                 "(num_scalars=0); set num_scalars or drop the scalars")
            if cond.scalars.shape != (batch, self.num_scalars):
                raise ValueError(f"cond.scalars must have shape ({batch}, {self.num_scalars}), "
                                 f"got {tuple(cond.scalars.shape)}")
        if cond.dropped is not None and cond.dropped.shape != (batch,):
            raise ValueError(f"cond.dropped must have shape ({batch},), got {tuple(cond.dropped.shape)}")
