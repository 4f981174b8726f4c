r"""The identity operator: denoising, :math:`y = x + n`."""

from __future__ import annotations

from torch import Tensor

from .base import LinearOperator

__all__ = ["Identity"]


class Identity(LinearOperator):
    r""":math:`A = I`, :math:`A^H = I`; with ``sigma_y > 0`` the inverse problem is Gaussian denoising.

    .. math:: A^+_\rho\, y = y / (1 + \rho)

    Args:
        sigma_y: noise std of the measurement.

    >>> import torch
    >>> A = Identity(sigma_y=0.1)
    >>> A.project(torch.zeros(1, 1, 3), torch.ones(1, 1, 3)).tolist()
    [[[1.0, 1.0, 1.0]]]
    """

    has_projection = True

    def forward(self, x: Tensor) -> Tensor:
        return x

    def adjoint(self, y: Tensor) -> Tensor:
        return y

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        return y / (1 + rho)
