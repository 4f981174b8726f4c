"""Sparsifying transforms for compressed sensing: finite differences (TV) and an orthonormal wavelet.

Each is a linear map ``Psi`` with ``forward`` and an exact ``adjoint`` and a ``group_dims`` tuple: the
axes over which the l2 norm is taken before the l1 sum (isotropic TV groups the two gradient
components; the wavelet groups nothing). Images are ``(B, C, H, W)`` real or complex tensors.
"""

from __future__ import annotations

import numpy as np
import pywt
import torch
from torch import Tensor

__all__ = ["FiniteDifference", "Wavelet", "l1_norm"]


class FiniteDifference:
    r"""Forward differences with a zero last difference (Neumann boundary): :math:`\|\nabla\|^2 \le 8`.

    ``forward``: (B, C, H, W) -> (B, C, 2, H, W); ``adjoint`` is minus the matching divergence
    (Chambolle 2004, Sec. 2), so ``<grad x, p> = <x, adjoint p>`` exactly.
    """

    group_dims = (2,)
    norm_bound = 8.0

    def forward(self, x: Tensor) -> Tensor:
        dy = torch.zeros_like(x)
        dx = torch.zeros_like(x)
        dy[..., :-1, :] = x[..., 1:, :] - x[..., :-1, :]
        dx[..., :, :-1] = x[..., :, 1:] - x[..., :, :-1]
        return torch.stack([dy, dx], dim=2)

    def adjoint(self, p: Tensor) -> Tensor:
        py, px = p[:, :, 0], p[:, :, 1]
        out = torch.zeros_like(py)
        out[..., :-1, :] -= py[..., :-1, :]      # -(p_i - p_{i-1}) with p_{-1} = 0 and p_{H-1} ignored
        out[..., 1:, :] += py[..., :-1, :]
        out[..., :, :-1] -= px[..., :, :-1]
        out[..., :, 1:] += px[..., :, :-1]
        return out


class Wavelet:
    """Orthonormal 2-D discrete wavelet transform (PyWavelets, periodization), zero-padded to fit.

    The image is zero-padded to a multiple of ``2**level`` (P), then transformed (W, orthonormal on the
    padded grid), so ``Psi = W P`` is an isometry and ``adjoint = P^T W^T`` (inverse DWT, then crop).
    Applied slice by slice in NumPy: PyWavelets does the filtering, torch keeps the batch.
    """

    group_dims = ()
    norm_bound = 1.0

    def __init__(self, wavelet: str = "db4", level: int = 4):
        w = pywt.Wavelet(wavelet)
        if not w.orthogonal:
            raise ValueError(f"wavelet '{wavelet}' is not orthogonal; use e.g. haar, db4, sym8")
        self.wavelet, self.level = wavelet, int(level)
        self._slices = None

    def _pad_shape(self, h: int, w: int) -> tuple[int, int]:
        m = 2 ** self._level
        return -(-h // m) * m, -(-w // m) * m

    def forward(self, x: Tensor) -> Tensor:
        h, w = x.shape[-2:]
        # no more levels than the image supports (PyWavelets' dwt_max_level), at least one
        self._level = max(1, min(self.level, pywt.dwt_max_level(min(h, w), pywt.Wavelet(self.wavelet).dec_len)))
        ph, pw = self._pad_shape(h, w)
        arr = x.detach().cpu().numpy()
        out = np.zeros(arr.shape[:-2] + (ph, pw), dtype=arr.dtype)
        for idx in np.ndindex(arr.shape[:-2]):
            padded = np.zeros((ph, pw), dtype=arr.dtype)
            padded[:h, :w] = arr[idx]
            coeffs = pywt.wavedec2(padded, self.wavelet, mode="periodization", level=self._level)
            out[idx], self._slices = pywt.coeffs_to_array(coeffs)
        self._shape = (h, w)
        return torch.from_numpy(out).to(x.device)

    def adjoint(self, c: Tensor) -> Tensor:
        if self._slices is None:
            raise RuntimeError("Wavelet.adjoint called before forward (the coefficient layout is unknown)")
        h, w = self._shape
        arr = c.detach().cpu().numpy()
        out = np.zeros(arr.shape[:-2] + (h, w), dtype=arr.dtype)
        for idx in np.ndindex(arr.shape[:-2]):
            coeffs = pywt.array_to_coeffs(arr[idx], self._slices, output_format="wavedec2")
            out[idx] = pywt.waverec2(coeffs, self.wavelet, mode="periodization")[:h, :w]
        return torch.from_numpy(out).to(c.device)


def l1_norm(v: Tensor, group_dims: tuple[int, ...]) -> Tensor:
    """Mixed l2,1 norm per batch sample: l2 over ``group_dims`` (and |.| of complex values), l1 over the rest."""
    mag = v.abs()
    if group_dims:
        mag = mag.square().sum(dim=group_dims).sqrt()
    return mag.reshape(mag.shape[0], -1).sum(dim=1)
