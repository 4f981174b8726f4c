"""Two-point correlation S2(r) of the pore phase by FFT, per axis and radially averaged.

S2(r) = P(x in pore and x + r in pore), estimated as the mean of I(x) I(x + r) over the positions where
both points lie in the volume (non-periodic, the default) or over the torus (periodic). S2(0) = phi and,
for a statistically homogeneous medium without long-range order, S2(r) -> phi^2 as |r| grows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .morphology import _mask

__all__ = ["S2", "two_point_correlation", "s2_mae_rel", "lag_correlation"]


@dataclass
class S2:
    """Result of :func:`two_point_correlation`.

    Attributes:
        r: integer lags 0..r_max (voxels).
        axes: (ndim, r_max + 1) S2 along each axis.
        radial: (r_max + 1,) S2 averaged over all displacement vectors with round(|r|) = lag.
        porosity: S2(0).
    """

    r: np.ndarray
    axes: np.ndarray
    radial: np.ndarray
    porosity: float


def _autocorrelation(a: np.ndarray, r_max: int, periodic: bool) -> np.ndarray:
    """mean_x I(x) I(x + s) for every shift s in [-r_max, r_max]^ndim (Wiener-Khinchin: |F(I)|^2)."""
    from scipy import fft as sfft                                         # lazy: keeps the package import light
    x = a.astype(np.float64)
    if periodic:
        shape = a.shape
        f = sfft.rfftn(x)
        ac = sfft.irfftn(f * np.conj(f), s=shape) / a.size
    else:
        shape = tuple(sfft.next_fast_len(n + r_max + 1) for n in a.shape)   # zero padding: no wrap-around
        f = sfft.rfftn(x, s=shape)
        ac = sfft.irfftn(f * np.conj(f), s=shape)
    idx = [np.arange(-r_max, r_max + 1) % n for n in shape]
    win = ac[np.ix_(*idx)]
    if not periodic:                                                      # divide by the number of pairs
        counts = np.ones(1)
        for n in a.shape:
            counts = np.multiply.outer(counts, n - np.abs(np.arange(-r_max, r_max + 1)))
        win = win / counts.reshape(win.shape)
    return win


def two_point_correlation(pore, *, r_max: int | None = None, periodic: bool = False) -> S2:
    """S2 of a 2D/3D pore mask up to lag ``r_max`` (default: a quarter of the smallest side, at most 64).

    >>> rng = np.random.default_rng(0); m = rng.random((40, 40, 40)) < 0.3
    >>> s = two_point_correlation(m, r_max=4)
    >>> bool(abs(s.radial[0] - m.mean()) < 1e-12), bool(abs(s.radial[3] - 0.09) < 0.003)
    (True, True)
    """
    a = _mask(pore)
    if r_max is None:
        r_max = min(64, min(a.shape) // 4)
    r_max = int(r_max)
    if not 0 < r_max < min(a.shape):
        raise ValueError(f"r_max={r_max} must be between 1 and {min(a.shape) - 1} for a mask of shape {a.shape}")
    ac = _autocorrelation(a, r_max, periodic)
    c = r_max                                                                 # index of the zero shift
    axes = np.stack([ac[tuple(slice(c, None) if d == k else c for d in range(a.ndim))] for k in range(a.ndim)])
    grids = np.meshgrid(*[np.arange(-r_max, r_max + 1)] * a.ndim, indexing="ij")
    dist = np.rint(np.sqrt(sum(g.astype(np.float64) ** 2 for g in grids))).astype(int)
    keep = dist <= r_max
    radial = np.bincount(dist[keep], weights=ac[keep], minlength=r_max + 1) / np.bincount(dist[keep],
                                                                                          minlength=r_max + 1)
    return S2(np.arange(r_max + 1), axes, radial, float(radial[0]))


def s2_mae_rel(s2_a: np.ndarray, s2_b: np.ndarray, porosity: float) -> float:
    """Mean absolute difference of two S2 curves over the lags, relative to the porosity (the issue's metric)."""
    a, b = np.asarray(s2_a, float), np.asarray(s2_b, float)
    if a.shape != b.shape:
        raise ValueError(f"S2 curves of different lengths: {a.shape} and {b.shape}")
    return float(np.mean(np.abs(a - b)) / porosity)


def lag_correlation(pore, lag: int) -> float:
    """Correlation coefficient of the pore indicator with itself ``lag`` voxels further along each axis,
    averaged over the axes (pairs inside the volume, no wrap-around):

        rho(lag) = (mean I(x) I(x + lag e) - mean I(x) mean I(x + lag e)) / sqrt(var I(x) var I(x + lag e)),

    i.e. (S2(lag) - phi^2) / (phi - phi^2) when both ends see the same porosity. A homogeneous rock without
    long-range order gives about 0 once the lag is well past its correlation length; a volume that repeats
    with period ``lag`` gives 1. The harness reports it at a lag of one tile (``tile_echo``): tiles
    smaller than the volume are tori to a network with circular padding, which can copy structure one tile
    further (docs/microstructure.md).

    >>> block = np.random.default_rng(0).random((8, 8, 8)) < 0.3
    >>> round(lag_correlation(np.tile(block, (2, 2, 2)), 8), 6)                       # period 8: an exact copy
    1.0
    """
    a = _mask(pore).astype(np.float64)
    if not 0 < lag < min(a.shape):
        raise ValueError(f"lag {lag} must lie between 1 and the smallest side - 1 of a volume of shape {a.shape}")
    rhos = []
    for axis in range(a.ndim):
        x = np.moveaxis(a, axis, 0)
        u, v = x[:-lag].ravel(), x[lag:].ravel()
        su, sv = u.std(), v.std()
        rhos.append(float(np.mean((u - u.mean()) * (v - v.mean())) / (su * sv)) if su > 0 and sv > 0 else 0.0)
    return float(np.mean(rhos))
