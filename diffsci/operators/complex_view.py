r"""Real models of complex images: view a real (B, 2C, *spatial) tensor as complex (B, C, *spatial)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LinearOperator

__all__ = ["ComplexView", "to_complex", "to_real"]


def to_complex(x: Tensor) -> Tensor:
    """(B, 2C, *spatial) real, channels ``[Re_1..Re_C, Im_1..Im_C]`` -> (B, C, *spatial) complex.

    >>> import torch
    >>> to_complex(torch.tensor([[[1.0], [2.0]]])).tolist()
    [[[(1+2j)]]]
    """
    if x.is_complex():
        raise ValueError(f"expected a real tensor with (re, im) channels, got {x.dtype}")
    if x.shape[1] % 2:
        raise ValueError(f"a (re, im) channel tensor needs an even number of channels, got shape {tuple(x.shape)}")
    re, im = x.chunk(2, dim=1)
    return torch.complex(re, im)


def to_real(z: Tensor) -> Tensor:
    """(B, C, *spatial) complex -> (B, 2C, *spatial) real with channels ``[Re, Im]`` (inverse of :func:`to_complex`)."""
    return torch.cat([z.real, z.imag], dim=1)


class ComplexView(LinearOperator):
    r"""Lift a complex-input operator to a real model whose 2C channels are (Re, Im) of C complex channels.

    :math:`\tilde A(\tilde x) = A(\tilde x_{re} + i \tilde x_{im})`. As a real-linear map its adjoint is
    the (Re, Im) view of :math:`A^H y` and its pseudo-inverse the view of :math:`A^+_\rho y`, because
    the real inner product of :math:`\mathbb{C}^n \cong \mathbb{R}^{2n}` is
    :math:`\mathrm{Re}\langle\cdot,\cdot\rangle`. Measurements are complex.

    Args:
        operator: a linear operator with ``input_kind`` "complex" or "any" (e.g.
            ``SubsampledFourier(mask, complex_input=True)``, ``Mask(m)``).

    >>> import torch
    >>> from diffsci.operators import SubsampledFourier
    >>> A = ComplexView(SubsampledFourier(torch.ones(4), complex_input=True))
    >>> A.input_kind, tuple(A.adjoint(A(torch.ones(1, 2, 4))).shape)
    ('real', (1, 2, 4))
    """

    complex_output = True
    input_kind = "real"

    def __init__(self, operator: LinearOperator):
        if operator.input_kind == "real":
            raise ValueError(f"{operator.name} takes real inputs already; ComplexView needs an operator of "
                             "complex images (e.g. complex_input=True)")
        super().__init__(operator.sigma_y)
        self.operator = operator
        self.has_projection = operator.has_projection

    @property
    def name(self) -> str:
        return f"ComplexView({self.operator.name})"

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        x_shape = tuple(x_shape)
        if len(x_shape) < 3 or x_shape[1] % 2:
            raise ValueError(f"{self.name} needs an input (B, 2C, *spatial) with (re, im) channels, "
                             f"got shape {x_shape}")
        return self.operator.measurement_shape((x_shape[0], x_shape[1] // 2) + x_shape[2:])

    def input_shape(self, y_shape: Sequence[int]) -> tuple[int, ...]:
        s = self.operator.input_shape(y_shape)
        return (s[0], 2 * s[1]) + tuple(s[2:])

    def measured(self, y: Tensor) -> Tensor | None:
        return self.operator.measured(y)

    def forward(self, x: Tensor) -> Tensor:
        return self.operator(to_complex(x))

    def adjoint(self, y: Tensor) -> Tensor:
        return to_real(self.operator.adjoint(y))

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        return to_real(self.operator.pinv(y, rho))
