r"""Multi-coil Cartesian MRI (SENSE, Pruessmann et al. 1999): :math:`A x = (M F S_c x)_{c=1..K}`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LinearOperator

__all__ = ["MultiCoilFourier"]


class MultiCoilFourier(LinearOperator):
    r"""Coil-weighted, masked k-space: each coil sees the image times its sensitivity map.

    .. math:: (A x)_c = M \odot F (S_c \odot x), \qquad A^H y = \sum_c \bar S_c \odot F^{-1}(M \odot y_c)

    For real images the adjoint is the real part. There is no closed-form pseudo-inverse, so
    :meth:`pinv` runs conjugate gradients and ``has_projection`` is False (data consistency uses the
    noise-aware step, or use dps / pigdm / diffpir).

    Args:
        sensitivities: complex coil maps, shape (K, *spatial).
        mask: 0/1 k-space mask, shape (*spatial) with size-1 axes broadcasting (default: all ones).
        sigma_y: noise std of each real and imaginary k-space component.
        centered: centred k-space layout (fastMRI, BART), as in :class:`SubsampledFourier`.
        complex_input: the image is complex.

    Inputs (B, C, *spatial) map to measurements (B, C, K, *spatial).

    >>> import torch
    >>> S = torch.ones(2, 4, dtype=torch.complex64) / 2 ** 0.5
    >>> A = MultiCoilFourier(S, torch.ones(4))
    >>> A(torch.ones(1, 1, 4)).shape
    torch.Size([1, 1, 2, 4])
    """

    complex_output = True

    def __init__(self, sensitivities: Tensor, mask: Tensor | None = None, sigma_y: float = 0.0, *,
                 centered: bool = False, complex_input: bool = False):
        super().__init__(sigma_y)
        sens = torch.as_tensor(sensitivities)
        if not 2 <= sens.ndim <= 4:
            raise ValueError(f"coil sensitivities have shape (K, *spatial) with 1-3 spatial axes, "
                             f"got {tuple(sens.shape)}")
        if not sens.is_complex():
            sens = sens.to(torch.complex64 if sens.dtype != torch.float64 else torch.complex128)
        n = sens.ndim - 1
        mask = torch.ones(sens.shape[1:]) if mask is None else torch.as_tensor(mask)
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("a k-space mask must hold only 0 and 1 (or booleans)")
        if mask.ndim != n or any(m not in (1, s) for m, s in zip(mask.shape, sens.shape[1:])):
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not match coil maps of spatial shape "
                             f"{tuple(sens.shape[1:])}")
        self.dims = tuple(range(-n, 0))
        self.centered = bool(centered)
        self.input_kind = "complex" if complex_input else "real"
        self.register_buffer("mask", mask.to(torch.get_default_dtype()))   # in the layout of the k-space
        self.register_buffer("sens", sens)

    @property
    def num_coils(self) -> int:
        return self.sens.shape[0]

    def extra_repr(self) -> str:
        return (f"coils={self.num_coils}, spatial={tuple(self.sens.shape[1:])}, "
                f"sampled={float(self.mask.mean()):.3f}, centered={self.centered}, " + super().extra_repr())

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        x_shape, n = tuple(x_shape), len(self.dims)
        spatial = tuple(self.sens.shape[1:])
        if len(x_shape) < n + 2 or x_shape[-n:] != spatial:
            raise ValueError(f"input of shape {x_shape} does not match coil maps of spatial shape {spatial} "
                             f"(expected (B, C, {', '.join(map(str, spatial))}))")
        return x_shape[:-n] + (self.num_coils,) + spatial

    def input_shape(self, y_shape: Sequence[int]) -> tuple[int, ...]:
        y_shape, n = tuple(y_shape), len(self.dims)
        expect = (self.num_coils,) + tuple(self.sens.shape[1:])
        if len(y_shape) < n + 3 or y_shape[-n - 1:] != expect:
            raise ValueError(f"measurement of shape {y_shape} does not end in (coils, *spatial) = {expect}")
        return y_shape[:-n - 1] + y_shape[-n:]

    def _fft(self, x: Tensor) -> Tensor:
        if self.centered:
            x = torch.fft.ifftshift(x, dim=self.dims)
        k = torch.fft.fftn(x, dim=self.dims, norm="ortho")
        return torch.fft.fftshift(k, dim=self.dims) if self.centered else k

    def _ifft(self, k: Tensor) -> Tensor:
        if self.centered:
            k = torch.fft.ifftshift(k, dim=self.dims)
        x = torch.fft.ifftn(k, dim=self.dims, norm="ortho")
        return torch.fft.fftshift(x, dim=self.dims) if self.centered else x

    def _mask(self, t: Tensor) -> Tensor:
        return self.mask.to(device=t.device, dtype=t.real.dtype)

    def measured(self, y: Tensor) -> Tensor:
        return self._mask(y)

    def forward(self, x: Tensor) -> Tensor:
        self.measurement_shape(x.shape)
        n = len(self.dims)
        sens = self.sens.to(x.device)
        xc = x.unsqueeze(-n - 1) * (sens if x.dtype in (torch.float64, torch.complex128)
                                    else sens.to(torch.complex64))
        k = self._fft(xc)
        return self._mask(k) * k

    def adjoint(self, y: Tensor) -> Tensor:
        n = len(self.dims)
        img = self._ifft(self._mask(y) * y)
        x = (self.sens.to(device=y.device, dtype=y.dtype).conj() * img).sum(-n - 1)
        return x.real if self.input_kind == "real" else x
