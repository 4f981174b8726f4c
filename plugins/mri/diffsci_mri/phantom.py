"""Brain-like ellipse phantoms: the embedded default data (no download).

The modified Shepp-Logan head phantom (Toft 1996; Shepp & Logan 1974) is a sum of ten ellipses.
:func:`random_phantoms` jitters every ellipse (size, position, angle, intensity) to make a family of
head-like images to train a small prior on; :func:`shepp_logan` renders the unperturbed one (the test
image of the demo). Intensities are scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np

__all__ = ["shepp_logan", "random_phantoms", "render_ellipses", "MODIFIED_SHEPP_LOGAN"]

#: (intensity, semi-axis a, semi-axis b, centre x, centre y, angle in degrees), Toft's modified
#: Shepp-Logan phantom on [-1, 1]^2 (higher contrast than the original).
MODIFIED_SHEPP_LOGAN = np.array([
    [1.0, 0.69, 0.92, 0.0, 0.0, 0.0],
    [-0.8, 0.6624, 0.874, 0.0, -0.0184, 0.0],
    [-0.2, 0.11, 0.31, 0.22, 0.0, -18.0],
    [-0.2, 0.16, 0.41, -0.22, 0.0, 18.0],
    [0.1, 0.21, 0.25, 0.0, 0.35, 0.0],
    [0.1, 0.046, 0.046, 0.0, 0.1, 0.0],
    [0.1, 0.046, 0.046, 0.0, -0.1, 0.0],
    [0.1, 0.046, 0.023, -0.08, -0.605, 0.0],
    [0.1, 0.023, 0.023, 0.0, -0.606, 0.0],
    [0.1, 0.023, 0.046, 0.06, -0.605, 0.0],
])


def render_ellipses(params: np.ndarray, size: int) -> np.ndarray:
    """Sum of filled ellipses on a ``size x size`` grid over [-1, 1]^2 (row = -y, column = x).

    >>> img = render_ellipses(np.array([[1.0, 0.5, 0.5, 0.0, 0.0, 0.0]]), 64)
    >>> round(float(img.mean()), 2)    # a disc of radius 0.5 covers pi/16 of the square
    0.2
    """
    c = (np.arange(size) + 0.5) / size * 2 - 1
    X, Y = np.meshgrid(c, -c)
    img = np.zeros((size, size), dtype=np.float64)
    for rho, a, b, x0, y0, phi in params:
        t = np.deg2rad(phi)
        xr = (X - x0) * np.cos(t) + (Y - y0) * np.sin(t)
        yr = -(X - x0) * np.sin(t) + (Y - y0) * np.cos(t)
        img[(xr / a) ** 2 + (yr / b) ** 2 <= 1] += rho
    return img


def shepp_logan(size: int = 128) -> np.ndarray:
    """The modified Shepp-Logan phantom, float32 in [0, 1]."""
    img = render_ellipses(MODIFIED_SHEPP_LOGAN, size)
    return (np.clip(img, 0, None) / img.max()).astype(np.float32)


def random_phantoms(n: int, size: int = 128, seed: int = 0, jitter: float = 0.15) -> np.ndarray:
    """``n`` jittered head phantoms ``(n, 1, size, size)`` float32 in [0, 1].

    Every ellipse's axes and intensity are scaled by ``1 + U(-jitter, jitter)``, its centre moved by
    ``U(-jitter, jitter) / 3`` and its angle turned by ``U(-30, 30) * jitter`` degrees; the inner
    ellipses also get a random small extra blob, so no two phantoms share the same anatomy.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, 1, size, size), dtype=np.float32)
    base = MODIFIED_SHEPP_LOGAN
    for i in range(n):
        p = base.copy()
        k = len(p)
        p[:, 0] *= 1 + rng.uniform(-jitter, jitter, k)
        p[:, 1:3] *= 1 + rng.uniform(-jitter, jitter, (k, 2))
        p[2:, 3:5] += rng.uniform(-jitter, jitter, (k - 2, 2)) / 3        # skull and brain stay centred
        p[:, 5] += rng.uniform(-30, 30, k) * jitter
        extra = np.array([[rng.uniform(0.05, 0.2), *rng.uniform(0.03, 0.12, 2),
                           *rng.uniform(-0.35, 0.35, 2), rng.uniform(0, 180)]])
        img = render_ellipses(np.concatenate([p, extra]), size)
        out[i, 0] = np.clip(img, 0, None) / max(img.max(), 1e-6)
    return out
