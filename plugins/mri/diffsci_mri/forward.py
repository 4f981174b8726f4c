r"""MRI forward models on the engine's operators, in the centred k-space layout of fastMRI and BART.

- single-coil: :math:`y = M F x` (``diffsci.operators.SubsampledFourier``, ``centered=True``);
- multi-coil SENSE: :math:`y_c = M F (S_c x)` (``diffsci.operators.MultiCoilFourier``).

Images are real (magnitude images, or complex objects whose smooth phase was moved into the coil maps
by :func:`diffsci_mri.kspace.absorb_phase`) unless ``complex_input=True``. Column masks from
:mod:`diffsci_mri.kspace.masks` become ``(1, W)`` masks that sample whole columns.
"""

from __future__ import annotations

import numpy as np
import torch

from diffsci.operators import MultiCoilFourier, SubsampledFourier

from .kspace.masks import CENTER_FRACTIONS, cartesian_mask, poisson_mask_2d

__all__ = ["single_coil", "multi_coil", "column_mask", "kspace_operator", "noise_std_from_corners"]


def column_mask(mask_1d: np.ndarray) -> torch.Tensor:
    """A ``(W,)`` column mask as the ``(1, W)`` float mask the engine's Fourier operators broadcast."""
    return torch.as_tensor(np.asarray(mask_1d, dtype=np.float32))[None, :]


def single_coil(mask: np.ndarray | torch.Tensor, *, sigma_y: float = 0.0,
                complex_input: bool = False) -> SubsampledFourier:
    """Single-coil Cartesian sampling ``A = M F`` (centred); ``mask`` (W,) columns or (H, W) / (1, W).

    >>> import torch
    >>> A = single_coil(np.array([1, 0, 1, 1], dtype=bool))
    >>> x = torch.rand(2, 1, 3, 4, dtype=torch.float64)
    >>> A.adjointness_gap(x, A(torch.rand_like(x))) < 1e-12
    True
    """
    m = torch.as_tensor(np.asarray(mask, dtype=np.float32)) if not isinstance(mask, torch.Tensor) else mask
    if m.ndim == 1:
        m = m[None, :]
    return SubsampledFourier(m.float(), sigma_y=sigma_y, centered=True, complex_input=complex_input)


def multi_coil(maps: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None, *, sigma_y: float = 0.0,
               complex_input: bool = False) -> MultiCoilFourier:
    """SENSE forward model with coil maps ``(K, H, W)`` and a (W,) column or (H, W) mask (centred)."""
    S = torch.as_tensor(np.asarray(maps)) if not isinstance(maps, torch.Tensor) else maps
    m = None
    if mask is not None:
        m = torch.as_tensor(np.asarray(mask, dtype=np.float32)) if not isinstance(mask, torch.Tensor) else mask
        if m.ndim == 1:
            m = m[None, :]
    return MultiCoilFourier(S, m, sigma_y=sigma_y, centered=True, complex_input=complex_input)


def kspace_operator(acceleration: float = 4, kind: str = "random", width: int = 128, height: int = 128,
                    center_fraction: float | None = None, seed: int = 0, sigma: float = 0.0):
    """Domain operator factory (``diffsci reconstruct --operator kspace:acceleration=4,kind=random,width=128``).

    ``kind``: ``random`` / ``equispaced`` (1-D columns, fastMRI) or ``poisson`` (2-D variable density
    over (height, width), for the two phase-encoding axes of a 3-D scan).
    """
    if kind == "poisson":
        calib = (min(24, int(height) // 4), min(24, int(width) // 4))
        m = torch.as_tensor(poisson_mask_2d((int(height), int(width)), acceleration, calib, seed=int(seed)))
        return single_coil(m.float(), sigma_y=sigma)
    cf = center_fraction if center_fraction is not None else CENTER_FRACTIONS.get(int(acceleration), 0.08)
    return single_coil(cartesian_mask(kind, int(width), acceleration, cf, seed=int(seed)), sigma_y=sigma)


def noise_std_from_corners(kspace: np.ndarray, frac: float = 0.08) -> float:
    """Noise std per real component from the outer ``frac`` of the readout axis (no signal there).

    Uses the median absolute deviation of the real and imaginary parts (robust to residual signal):
    sigma = MAD / 0.6745. Only *acquired* samples count: the exact zeros of unsampled columns (a
    zero-filled undersampled k-space) are left out; counting them (3/4 of the samples at 4x) made the
    MAD 0, i.e. sigma_y = 0, and the multi-coil diffusion then fitted the noise (noiseless data
    consistency), 2 dB below zero-filled.

    >>> rng = np.random.default_rng(0)
    >>> k = 0.1 * (rng.normal(size=(4, 64, 32)) + 1j * rng.normal(size=(4, 64, 32)))
    >>> k[..., ::4] = 0                                    # unsampled columns
    >>> round(noise_std_from_corners(k), 2)
    0.1
    """
    k = np.asarray(kspace)
    n = max(1, int(round(k.shape[-2] * frac / 2)))
    edge = np.concatenate([k[..., :n, :].ravel(), k[..., -n:, :].ravel()])
    edge = edge[edge != 0]                                  # acquired samples only
    if edge.size == 0:
        raise ValueError(f"k-space of shape {k.shape}: no acquired (non-zero) sample in the outer {frac:.0%} of "
                         "the readout axis to estimate the noise from")
    parts = np.concatenate([edge.real, edge.imag])
    return float(np.median(np.abs(parts - np.median(parts))) / 0.6745)
