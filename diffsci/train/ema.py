"""Exponential moving average of network weights (Polyak averaging), the weights that get sampled from."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["EMA"]


class EMA:
    r"""theta_ema <- beta_n theta_ema + (1 - beta_n) theta after every optimiser step.

    With ``warmup=True`` the decay ramps up as beta_n = min(decay, (1 + n) / (10 + n)) for the n-th
    update (n = 0, 1, ...), so that short runs are not dominated by the random initialisation; with
    ``warmup=False``, beta_n = decay. For a constant sequence theta_n = c the closed form is

        theta_ema(N) = c + prod_{n<N} beta_n (theta_ema(0) - c).

    Buffers (e.g. normalisation statistics) are copied, not averaged.

    >>> net = nn.Linear(1, 1, bias=False); _ = net.weight.data.fill_(0.0)
    >>> ema = EMA(net, decay=0.5, warmup=False); _ = net.weight.data.fill_(1.0)
    >>> ema.update(net); ema.update(net); float(ema.module.weight)   # 1 - 0.5**2
    0.75
    """

    def __init__(self, model: nn.Module, decay: float, *, warmup: bool = True):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.warmup, self.num_updates = float(decay), warmup, 0

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n)) if self.warmup else self.decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        beta = self.current_decay()
        for e, p in zip(self.module.parameters(), model.parameters(), strict=True):
            e.lerp_(p.detach().to(e.dtype), 1.0 - beta)          # e + (1 - beta)(p - e)
        for eb, b in zip(self.module.buffers(), model.buffers(), strict=True):
            eb.copy_(b)
        self.num_updates += 1
