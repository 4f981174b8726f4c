r"""Cartesian k-space sampling, :math:`A = M F`, with the orthonormal FFT over 1, 2 or 3 axes."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .base import LinearOperator

__all__ = ["SubsampledFourier", "partner_indices_mask"]


def _flip_mod(t: Tensor, dims: tuple[int, ...]) -> Tensor:
    """t[-k mod n] along ``dims``: the index of each frequency's conjugate partner (uncentred layout)."""
    return torch.roll(torch.flip(t, dims), shifts=[1] * len(dims), dims=dims)


def partner_indices_mask(mask: Tensor) -> Tensor:
    """Where a sampled frequency k (uncentred layout) also has -k sampled: the Hermitian pairs of a real image."""
    dims = tuple(range(mask.ndim))
    return mask.bool() & _flip_mod(mask.bool(), dims)


class SubsampledFourier(LinearOperator):
    r"""Masked k-space sampling :math:`A = M F` (orthonormal DFT over the last ``mask.ndim`` axes).

    .. math:: A x = M \odot F x, \qquad A^H y = F^{-1}(M \odot y), \qquad A A^H = M .

    With ``complex_input=True`` (complex images) :math:`A^+_\rho y = A^H y / (1 + \rho)` and the
    projection replaces the measured samples. With real images (the default) the operator is the
    real-linear map :math:`x \mapsto M F x` whose adjoint is :math:`\mathrm{Re}(F^{-1} M y)`. Then a
    sampled frequency whose conjugate partner :math:`-k` is also sampled carries the same information
    twice, and on the range of A, :math:`A A^\top` is 1 on such pairs and 1/2 on unpaired samples, so

    .. math:: A^+_\rho\, y = \mathrm{Re}\, F^{-1} g, \quad
              g_k = \begin{cases} \tfrac12 (u_k + \bar u_{-k}) / (1 + \rho) & -k \text{ sampled} \\
                                  u_k / (\tfrac12 + \rho) & \text{otherwise} \end{cases}, \quad u = M \odot y,

    which is exact for every mask (the anti-Hermitian part of u is in the null space of the adjoint).

    Args:
        mask: 0/1 k-space mask of shape (*spatial); size-1 axes broadcast (a column mask ``(1, W)``
            samples whole columns). The FFT runs over the last ``mask.ndim`` axes of the input.
        sigma_y: noise std of each real and imaginary k-space component.
        centered: k-space and mask in the centred layout of fastMRI and BART
            (``fftshift(fft(ifftshift(x)))``); False: DC at index 0.
        complex_input: the image is complex (see :mod:`diffsci.operators.base`).

    >>> import torch
    >>> A = SubsampledFourier(torch.tensor([1, 1, 0, 1]))
    >>> x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]], dtype=torch.float64)
    >>> A.project(torch.zeros_like(x), A(x)).round(decimals=6).tolist()  # bins 0, 1, -1; Nyquist unmeasured
    [[[1.5, 1.5, 3.5, 3.5]]]
    """

    has_projection = True
    complex_output = True

    def __init__(self, mask: Tensor, sigma_y: float = 0.0, *, centered: bool = False,
                 complex_input: bool = False):
        super().__init__(sigma_y)
        mask = torch.as_tensor(mask)
        if mask.is_complex() or not bool(((mask == 0) | (mask == 1)).all()):
            raise ValueError("a k-space mask must hold only 0 and 1 (or booleans)")
        if not 1 <= mask.ndim <= 3:
            raise ValueError(f"a k-space mask has 1, 2 or 3 axes (the FFT axes), got shape {tuple(mask.shape)}")
        self.centered = bool(centered)
        self.input_kind = "complex" if complex_input else "real"
        self.dims = tuple(range(-mask.ndim, 0))
        self.mask_shape = tuple(mask.shape)
        m = mask.to(torch.get_default_dtype())
        if self.centered:
            m = torch.fft.ifftshift(m, dim=self.dims)
        self.register_buffer("mask_u", m)                                  # uncentred layout
        self.register_buffer("paired", partner_indices_mask(m))

    def extra_repr(self) -> str:
        return (f"mask_shape={self.mask_shape}, sampled={float(self.mask_u.mean()):.3f}, "
                f"centered={self.centered}, " + super().extra_repr())

    def measurement_shape(self, x_shape: Sequence[int]) -> tuple[int, ...]:
        x_shape, n = tuple(x_shape), len(self.dims)
        ok = len(x_shape) >= n + 2 and all(m in (1, s) for m, s in zip(self.mask_shape, x_shape[-n:]))
        if not ok:
            raise ValueError(f"a k-space mask of shape {self.mask_shape} does not fit an input of shape "
                             f"{x_shape} (expected (B, C, *spatial) with {n} spatial axes matching the mask)")
        return x_shape

    # --- the FFT in the chosen layout ------------------------------------------------------------
    def _to_k(self, x: Tensor) -> Tensor:
        """Uncentred k-space of x."""
        if self.centered:
            x = torch.fft.ifftshift(x, dim=self.dims)
        return torch.fft.fftn(x, dim=self.dims, norm="ortho")

    def _from_k(self, k: Tensor) -> Tensor:
        x = torch.fft.ifftn(k, dim=self.dims, norm="ortho")
        if self.centered:
            x = torch.fft.fftshift(x, dim=self.dims)
        return x.real if self.input_kind == "real" else x

    def _layout_in(self, y: Tensor) -> Tensor:
        return torch.fft.ifftshift(y, dim=self.dims) if self.centered else y

    def _m(self, t: Tensor) -> Tensor:
        return self.mask_u.to(device=t.device, dtype=t.real.dtype if t.is_complex() else t.dtype)

    def measured(self, y: Tensor) -> Tensor:
        m = self._m(y)
        return torch.fft.fftshift(m, dim=self.dims) if self.centered else m

    # --- the contract ----------------------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        self.measurement_shape(x.shape)
        k = self._m(x) * self._to_k(x)
        return torch.fft.fftshift(k, dim=self.dims) if self.centered else k

    def adjoint(self, y: Tensor) -> Tensor:
        return self._from_k(self._m(y) * self._layout_in(y))

    def pinv(self, y: Tensor, rho: float = 0.0) -> Tensor:
        u = self._m(y) * self._layout_in(y)
        if self.input_kind == "complex":
            return self._from_k(u / (1 + rho))
        h = (u + _flip_mod(u, self.dims).conj()) / 2                     # Hermitian part on the pairs
        g = torch.where(self.paired.to(u.device), h / (1 + rho), u / (0.5 + rho))
        return self._from_k(g)
