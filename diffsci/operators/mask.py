r"""Masking: inpainting, gaps in signals, missing slices. :math:`y = M \odot x` with a binary mask M."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LinearOperator

__all__ = ["Mask"]


class Mask(LinearOperator):
    r"""Keep the entries where the mask is 1 and zero the others: :math:`A = A^H = \mathrm{diag}(M)`.

    The measurement keeps the input's shape (unmeasured entries are 0 and ignored). Because
    :math:`M^2 = M`, the pseudo-inverse and the projection are closed-form:

    .. math:: A^+_\rho\, y = \frac{M \odot y}{1 + \rho}, \qquad
              \Pi_y(x) = (1 - M) \odot x + M \odot y .

    Args:
        mask: 0/1 (or bool) tensor that broadcasts against the input from the right: ``(L,)`` gaps in a
            1-D signal, ``(H, W)`` inpainting, ``(D, 1, 1)`` missing slices, ``(C, *spatial)`` per channel.
        sigma_y: noise std of the measured entries.

    >>> A = Mask(torch.tensor([1.0, 0.0, 1.0]))
    >>> A(torch.tensor([[[5.0, 6.0, 7.0]]])).tolist()
    [[[5.0, 0.0, 7.0]]]
    >>> A.project(torch.zeros(1, 1, 3), torch.tensor([[[1.0, 9.0, 2.0]]])).tolist()
    [[[1.0, 0.0, 2.0]]]
    """

    has_projection = True

    def __init__(self, mask: Tensor, sigma_y: float = 0.0):
        super().__init__(sigma_y)
        mask = torch.as_tensor(mask)
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("a Mask must hold only 0 and 1 (or booleans)")
        if mask.ndim == 0:
            raise ValueError("a Mask needs at least one axis")
        self.register_buffer("mask", mask.to(torch.get_default_dtype()))

    def extra_repr(self) -> str:
        frac = float(self.mask.mean())
        return f"shape={tuple(self.mask.shape)}, measured={frac:.3f}, " + super().extra_repr()

    def _m(self, t: Tensor) -> Tensor:
        return self.mask.to(device=t.device, dtype=t.real.dtype if t.is_complex() else t.dtype)

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        x_shape = tuple(x_shape)
        ok = len(x_shape) >= self.mask.ndim + 1
        if ok:
            try:
                ok = torch.broadcast_shapes(tuple(self.mask.shape), x_shape) == x_shape
            except RuntimeError:
                ok = False
        if not ok:
            raise ValueError(f"a mask of shape {tuple(self.mask.shape)} does not fit an input of shape {x_shape} "
                             "(it must broadcast against the trailing axes of (B, C, *spatial))")
        return x_shape

    def measured(self, y: Tensor) -> Tensor:
        return self._m(y)

    def forward(self, x: Tensor) -> Tensor:
        self.measurement_shape(x.shape)
        return self._m(x) * x

    def adjoint(self, y: Tensor) -> Tensor:
        return self._m(y) * y

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        return self._m(y) * y / (1 + rho)
