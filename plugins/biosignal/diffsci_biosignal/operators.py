r"""Measurement operators of ECG problems, on (B, C, L) signals.

- :class:`BaselineNullspace`: baseline wander as an unknown low-frequency component. With U the
  orthonormal DCT-II vectors of frequency below the cut-off, a noisy recording y = x + U c + n tells us
  nothing about the component of x in span(U); what it measures is :math:`A x = (I - U U^T) x`, a
  projection, so :math:`A = A^T = A^2` and :math:`A^+_\rho y = A y / (1 + \rho)`.
- ``denoise``: :class:`diffsci.operators.Identity` with the noise std, ``gaps``: :class:`~diffsci.operators.Mask`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.fft import idct
from torch import Tensor

from diffsci.operators import Identity, LinearOperator, Mask

__all__ = ["BaselineNullspace", "dct_lowpass_basis", "OPERATORS"]


def dct_lowpass_basis(length: int, fs: float, cutoff_hz: float) -> np.ndarray:
    """(K, length) orthonormal DCT-II vectors with frequency k fs / (2 length) <= cutoff_hz (k = 0 .. K-1).

    >>> U = dct_lowpass_basis(512, 360.0, 0.7)
    >>> U.shape, bool(np.allclose(U @ U.T, np.eye(len(U))))
    ((2, 512), True)
    """
    k = int(math.floor(cutoff_hz * 2 * length / fs)) + 1
    if k < 1 or k > length:
        raise ValueError(f"cut-off {cutoff_hz} Hz gives {k} DCT vectors for a length of {length} at {fs} Hz")
    return idct(np.eye(length)[:k], type=2, norm="ortho", axis=-1)


class BaselineNullspace(LinearOperator):
    r""":math:`A = I - U U^T`: everything but the frequencies below ``cutoff_hz`` (see the module docstring).

    >>> A = BaselineNullspace(64, 360.0, 6.0)
    >>> x = torch.randn(2, 1, 64, dtype=torch.float64)
    >>> bool(torch.allclose(A(A(x)), A(x)))
    True
    """

    has_projection = True

    def __init__(self, length: int, fs: float, cutoff_hz: float = 0.7, sigma_y: float = 0.0):
        super().__init__(sigma_y)
        self.length, self.fs, self.cutoff_hz = int(length), float(fs), float(cutoff_hz)
        self.register_buffer("U", torch.as_tensor(dct_lowpass_basis(self.length, self.fs, self.cutoff_hz)))

    def measurement_shape(self, x_shape) -> tuple[int, ...]:
        if x_shape[-1] != self.length:
            raise ValueError(f"input has shape {tuple(x_shape)} but {self.name} was built for length {self.length}")
        return tuple(x_shape)

    def forward(self, x: Tensor) -> Tensor:
        U = self.U.to(x.dtype)
        return x - (x @ U.T) @ U

    def adjoint(self, y: Tensor) -> Tensor:
        return self.forward(y)

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        return self.forward(y) / (1 + rho)


def _gaps(length: int, gaps: list[tuple[int, int]], sigma_y: float = 0.0) -> Mask:
    m = torch.ones(length)
    for a, b in gaps:
        m[a:b] = 0
    return Mask(m, sigma_y=sigma_y)


OPERATORS = {"denoise": lambda sigma_y=0.05: Identity(sigma_y=sigma_y), "gaps": _gaps,
             "baseline": BaselineNullspace}
