"""Centred, orthonormal 2-D Fourier transforms (fastMRI's ``fft2c`` convention) and coil combination.

k-space here is *centred*: the DC sample sits at index ``n // 2`` of each axis, as in fastMRI files
and BART, so a mask's centre columns are in the middle. ``fft2c(x) = fftshift(fft2(ifftshift(x)))``
with ``norm="ortho"``, which makes it unitary: ``ifft2c(fft2c(x)) == x`` and ``||fft2c(x)|| == ||x||``.
Both NumPy arrays and torch tensors are accepted (the last two axes are transformed).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["fft2c", "ifft2c", "rss", "centred_to_uncentred"]


def fft2c(x):
    """Unitary centred 2-D DFT over the last two axes.

    >>> x = np.random.default_rng(0).normal(size=(4, 6))
    >>> bool(np.allclose(ifft2c(fft2c(x)), x)), bool(np.isclose(np.linalg.norm(fft2c(x)), np.linalg.norm(x)))
    (True, True)
    """
    if isinstance(x, torch.Tensor):
        x = torch.fft.ifftshift(x, dim=(-2, -1))
        return torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
    x = np.fft.ifftshift(x, axes=(-2, -1))
    return np.fft.fftshift(np.fft.fft2(x, norm="ortho"), axes=(-2, -1))


def ifft2c(k):
    """Inverse of :func:`fft2c` (unitary, centred)."""
    if isinstance(k, torch.Tensor):
        k = torch.fft.ifftshift(k, dim=(-2, -1))
        return torch.fft.fftshift(torch.fft.ifft2(k, norm="ortho"), dim=(-2, -1))
    k = np.fft.ifftshift(k, axes=(-2, -1))
    return np.fft.fftshift(np.fft.ifft2(k, norm="ortho"), axes=(-2, -1))


def rss(x, axis: int = 0):
    """Root-sum-of-squares coil combination ``sqrt(sum_c |x_c|^2)`` (fastMRI's ``reconstruction_rss``).

    >>> rss(np.array([[3.0], [4.0j]]), axis=0)
    array([5.])
    """
    if isinstance(x, torch.Tensor):
        return x.abs().square().sum(dim=axis).sqrt()
    return np.sqrt((np.abs(x) ** 2).sum(axis=axis))


def centred_to_uncentred(mask):
    """Move a centred k-space mask to the layout of an uncentred FFT (DC at index 0): ``ifftshift``."""
    if isinstance(mask, torch.Tensor):
        return torch.fft.ifftshift(mask, dim=(-2, -1))
    return np.fft.ifftshift(mask, axes=(-2, -1))
