"""Measurement-conditioned datasets: add simulated measurements of each item as conditioning channels.

A measurement-conditioned model learns p(x | y) directly: its network sees ``cond.channels`` =
an image-shaped view of y (the adjoint A^H y, the pseudo-inverse A^+ y, or y itself) concatenated to
its input (``UNet(cond_channels=...)``). The same function, :func:`measurement_channels`, builds the
channels for training items and at sampling time, so the two always agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..operators.base import LinearOperator, Operator
from ..operators.complex_view import to_real

__all__ = ["MeasurementDataset", "measurement_channels", "CHANNEL_KINDS"]

CHANNEL_KINDS = ("adjoint", "pinv", "measurement")
OperatorSource = Operator | Callable[[int, torch.Generator], Operator]


def measurement_channels(operator: Operator, y: Tensor, x_shape: tuple[int, ...],
                         kind: Literal["adjoint", "pinv", "measurement"] = "adjoint") -> Tensor:
    """Image-shaped, real conditioning channels (B, C', *spatial) made from a measurement y (B, *meas).

    Args:
        kind: "adjoint" A^H y (zero-filled for masks and k-space), "pinv" A^+ y (least-squares image,
            nearest-neighbour upsampling for Downsample), or "measurement" y itself, which must have the
            spatial shape of x; complex y become [Re, Im] channels.
        x_shape: (B, C, *spatial) of the images.
    """
    if kind not in CHANNEL_KINDS:
        raise ValueError(f"unknown measurement channel kind '{kind}'; valid: {', '.join(CHANNEL_KINDS)}")
    if kind in ("adjoint", "pinv"):
        if not isinstance(operator, LinearOperator):
            raise ValueError(f"channels='{kind}' needs a linear operator; {operator.name} is not: use "
                             "channels='measurement'")
        c = operator.adjoint(y) if kind == "adjoint" else operator.pinv(y)
    else:
        c = y.reshape(y.shape[0], -1, *y.shape[-(len(x_shape) - 2):]) if y.ndim > len(x_shape) else y
        if tuple(c.shape[2:]) != tuple(x_shape[2:]):
            raise ValueError(f"channels='measurement' needs measurements with the images' spatial shape "
                             f"{tuple(x_shape[2:])}, got measurement shape {tuple(y.shape)}; use 'adjoint' "
                             "or 'pinv'")
    return to_real(c) if c.is_complex() else c


class MeasurementDataset(Dataset):
    """Items of ``base`` with a simulated measurement y = A x + n added as conditioning channels.

    Each item ``{"x": (C, *spatial), ...}`` gets ``"channels"`` = :func:`measurement_channels` of its
    measurement (appended after any channels it had) and, with ``keep_measurement``, ``"measurement"``.
    The noise (std ``operator.sigma_y`` per real component) of item i is drawn from a generator seeded
    with ``seed + i``, so an item's measurement is the same every epoch; ``seed=None`` draws fresh noise
    (and fresh random operators) each time.

    Args:
        base: a map-style dataset of dicts with key "x".
        operator: an operator, or a factory ``(index, generator) -> Operator`` for a different one per
            item (random masks, random accelerations).
        channels: "adjoint", "pinv" or "measurement" (see :func:`measurement_channels`).

    >>> from diffsci.data import ArrayDataset
    >>> from diffsci.operators import Mask
    >>> ds = MeasurementDataset(ArrayDataset(torch.ones(2, 1, 4).numpy()), Mask(torch.tensor([1.0, 0, 1, 0])))
    >>> ds[0]["channels"].tolist(), ds.cond_channels
    ([[1.0, 0.0, 1.0, 0.0]], 1)
    """

    def __init__(self, base: Dataset, operator: OperatorSource, *,
                 channels: Literal["adjoint", "pinv", "measurement"] = "adjoint", seed: int | None = 0,
                 keep_measurement: bool = False):
        if channels not in CHANNEL_KINDS:
            raise ValueError(f"unknown measurement channel kind '{channels}'; valid: {', '.join(CHANNEL_KINDS)}")
        if not isinstance(operator, Operator) and not callable(operator):
            raise TypeError(f"operator must be an Operator or a factory (index, generator) -> Operator, "
                            f"got {type(operator).__name__}")
        self.base, self.operator, self.kind = base, operator, channels
        self.seed, self.keep_measurement = seed, keep_measurement

    def __len__(self) -> int:
        return len(self.base)

    def _generator(self, i: int) -> torch.Generator:
        g = torch.Generator()
        if self.seed is None:
            g.seed()
        else:
            g.manual_seed(int(self.seed) + int(i))
        return g

    def operator_for(self, i: int, generator: torch.Generator | None = None) -> Operator:
        """The operator of item i (the fixed one, or the factory's draw)."""
        if isinstance(self.operator, Operator):
            return self.operator
        op = self.operator(i, generator if generator is not None else self._generator(i))
        if not isinstance(op, Operator):
            raise TypeError(f"the operator factory returned {type(op).__name__} for item {i}, not an Operator")
        return op

    def __getitem__(self, i: int) -> dict:
        item = dict(self.base[i])
        if "x" not in item:
            raise ValueError(f"item {i} of the base dataset has no 'x' (keys: {', '.join(item)})")
        x = torch.as_tensor(item["x"])[None]
        g = self._generator(i)
        op = self.operator_for(i, g)
        op.check_input(x, what=f"item {i} (shape {tuple(x.shape[1:])})")
        y = op.measure(x, generator=g)
        c = measurement_channels(op, y, tuple(x.shape), self.kind)[0].to(x.dtype)
        old = item.get("channels")
        item["channels"] = c if old is None else torch.cat([torch.as_tensor(old), c], 0)
        if self.keep_measurement:
            item["measurement"] = y[0]
        return item

    @property
    def cond_channels(self) -> int:
        """Number of conditioning channels of an item (the UNet's ``cond_channels``)."""
        return int(self[0]["channels"].shape[0])
