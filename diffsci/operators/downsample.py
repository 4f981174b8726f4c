r"""Super-resolution: average pooling by an integer factor per spatial axis."""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor

from .base import LinearOperator

__all__ = ["Downsample"]


class Downsample(LinearOperator):
    r"""Block averaging over non-overlapping ``f_1 x ... x f_n`` blocks of the last n axes.

    :math:`A` averages each block, :math:`A^H` copies each value back into its block divided by
    :math:`p = \prod_i f_i`, so :math:`A A^H = I / p` and the pseudo-inverse is closed-form:

    .. math:: A^+_\rho\, y = \frac{A^H y}{1/p + \rho}
              \quad (\rho = 0: \text{nearest-neighbour upsampling}).

    Args:
        factors: one integer factor per spatial axis, e.g. ``(2, 2)``; the input's spatial sizes must be
            divisible by them.
        sigma_y: noise std of the low-resolution measurement.

    >>> import torch
    >>> A = Downsample((2,))
    >>> A(torch.tensor([[[1.0, 3.0, 5.0, 9.0]]])).tolist()
    [[[2.0, 7.0]]]
    >>> A.pinv(torch.tensor([[[2.0, 7.0]]])).tolist()
    [[[2.0, 2.0, 7.0, 7.0]]]
    """

    has_projection = True

    def __init__(self, factors: Sequence[int] | int, sigma_y: float = 0.0):
        super().__init__(sigma_y)
        factors = (factors,) if isinstance(factors, int) else tuple(factors)
        if not factors or any(int(f) != f or f < 1 for f in factors):
            raise ValueError(f"downsampling factors must be positive integers, got {factors}")
        self.factors = tuple(int(f) for f in factors)
        self.p = math.prod(self.factors)

    def extra_repr(self) -> str:
        return f"factors={self.factors}, " + super().extra_repr()

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        x_shape, n = tuple(x_shape), len(self.factors)
        if len(x_shape) < n + 2:
            raise ValueError(f"Downsample{self.factors} needs an input (B, C, *spatial) with {n} spatial "
                             f"axes, got shape {x_shape}")
        spatial = x_shape[-n:]
        if any(s % f for s, f in zip(spatial, self.factors)):
            raise ValueError(f"input spatial shape {spatial} (input shape {x_shape}) is not divisible by the "
                             f"downsampling factors {self.factors}")
        return x_shape[:-n] + tuple(s // f for s, f in zip(spatial, self.factors))

    def input_shape(self, y_shape: Sequence[int]) -> tuple[int, ...]:
        y_shape, n = tuple(y_shape), len(self.factors)
        if len(y_shape) < n + 2:
            raise ValueError(f"Downsample{self.factors} expects a measurement with {n} spatial axes, "
                             f"got shape {y_shape}")
        return y_shape[:-n] + tuple(s * f for s, f in zip(y_shape[-n:], self.factors))

    def forward(self, x: Tensor) -> Tensor:
        out = self.measurement_shape(x.shape)
        n, lead = len(self.factors), x.shape[:-len(self.factors)]
        split = [d for s, f in zip(out[-n:], self.factors) for d in (s, f)]   # (.., H/f1, f1, W/f2, f2)
        return x.reshape(*lead, *split).mean(dim=tuple(len(lead) + 2 * i + 1 for i in range(n)))

    def adjoint(self, y: Tensor) -> Tensor:
        x = y
        for i, f in enumerate(self.factors):
            x = x.repeat_interleave(f, dim=y.ndim - len(self.factors) + i)
        return x / self.p

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        return self.adjoint(y) / (1 / self.p + rho)
