r"""Local porosity maps for tiled generation: how porous each tile of a large volume should be.

A porosity-conditioned prior follows its condition closely (Berea, 32^3 tiles: within +-0.005), and left
unconditional it does not vary its porosity at all (std 0.003 over 32^3 samples against 0.083 for real
patches; the patch mean is one mode among 32^3 in the denoising loss). So the spread of porosity between the
tiles of a large volume has to come from the conditions: told the volume's porosity, every tile takes it and
the volume is far more uniform than the rock (64^3 Berea: the eight 32^3 octants varied 4x less than real
ones; docs/benchmarks.md, Microstructure, session 15).

The map given here is the porosity of the ``box``^3 neighbourhood of every voxel (the porosity of a tile
centred there), drawn as a Gaussian field with the rock's own fluctuation spectrum. On a torus of N voxels the
pore indicator I has E|F[I - mean I](k)|^2 = N S(k) (Wiener-Khinchin; S is the Fourier transform of the
autocovariance S2(r) - phi^2), so

.. math::
    g = \mathcal{F}^{-1}\big[\mathcal{F}[w] \sqrt{\hat S}\big], \qquad
    \hat S(k) = \frac{1}{M N} \sum_{m=1}^{M} |\mathcal{F}[I_m - \bar I_m](k)|^2,
    \qquad \phi(x) = \phi_\mathrm{target} + (h_\mathrm{box} * g)(x)

with w white N(0, 1) noise and I_m random training crops of the volume's size: g has the rock's covariance and,
since every crop's own mean is removed (S^(0) = 0), exactly zero mean, so the map averages to the target
porosity. The box average h_box (scipy.ndimage.uniform_filter, periodic) turns it into tile porosities. A
Gaussian field is the simplest model with the right covariance; written here because no library we use
samples a field from an empirical spectrum.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["fluctuation_spectrum", "sample_porosity_maps"]


def fluctuation_spectrum(region: np.ndarray, size: int | Sequence[int], *, n: int = 64, seed: int = 0) -> np.ndarray:
    """S^(k) of the pore indicator on a torus of ``size`` (per axis): the mean of |FFT(I - mean I)|^2 / N over
    ``n`` random crops of ``region`` (bool), float64 of shape ``size``; S^(0) = 0.

    A crop is not periodic; its wrap-around adds a little spurious power at high k, which the box average
    of :func:`sample_porosity_maps` removes.
    """
    region = np.asarray(region, bool)
    shape = (size,) * region.ndim if isinstance(size, int) else tuple(size)
    if len(shape) != region.ndim or any(z > s for z, s in zip(shape, region.shape)):
        raise ValueError(f"crops of shape {shape} do not fit in a region of shape {region.shape}")
    rng = np.random.default_rng(seed)
    acc = np.zeros(shape)
    for _ in range(n):
        start = [int(rng.integers(0, s - z + 1)) for s, z in zip(region.shape, shape)]
        crop = region[tuple(slice(a, a + z) for a, z in zip(start, shape))].astype(np.float64)
        acc += np.abs(np.fft.fftn(crop - crop.mean())) ** 2
    return acc / (n * np.prod(shape))


def sample_porosity_maps(spectrum: np.ndarray, porosity, box: int, *, n: int | None = None, seed: int = 0,
                         clip: tuple[float, float] = (0.01, 0.99)) -> np.ndarray:
    """``n`` maps (n, *spectrum.shape) of local porosity: the porosity of the ``box``^d neighbourhood of every
    voxel, a Gaussian field with spectrum ``spectrum`` (:func:`fluctuation_spectrum`) around ``porosity``
    (one value or one per map; each map's mean equals it unless ``clip`` binds).
    """
    spectrum = np.asarray(spectrum, np.float64)
    targets = np.atleast_1d(np.asarray(porosity, np.float64))
    n = len(targets) if n is None else int(n)
    targets = np.broadcast_to(targets, (n,))
    if box < 1:
        raise ValueError(f"box must be at least one voxel, got {box}")
    from scipy.ndimage import uniform_filter
    rng = np.random.default_rng(seed)
    amp = np.sqrt(np.maximum(spectrum, 0.0))
    out = np.empty((n, *spectrum.shape))
    for i in range(n):
        g = np.fft.ifftn(np.fft.fftn(rng.standard_normal(spectrum.shape)) * amp).real
        out[i] = targets[i] + uniform_filter(g, size=box, mode="wrap")
    return np.clip(out, *clip)
