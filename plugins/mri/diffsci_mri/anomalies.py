"""Synthetic anomalies with ground-truth masks, in the spirit of the MOOD challenge (Zimmerer et al. 2022).

MOOD's synthetic test cases place a random ellipsoid in a healthy scan and alter its content. Three of
its kinds are implemented for 2-D slices (an ellipse) and 3-D volumes (an ellipsoid), always inside the
brain (the image's foreground):

- ``intensity``: the region's intensity shifted by delta (brighter or darker), blended at the edge;
- ``noise``: Gaussian noise of std s added inside the region;
- ``deformation``: a smooth radial displacement (the region's content pushed outward from its centre,
  like a mass effect), resampled with ``scipy.ndimage.map_coordinates``; the mask is where the
  displacement exceeds half a voxel *and* the image changed.

Images are float arrays in the domain's [0, 1] normalisation, without a channel axis
(``(H, W)`` or ``(X, Y, Z)``); results are clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["Anomaly", "ANOMALY_KINDS", "random_ellipsoid", "add_anomaly"]

ANOMALY_KINDS = ("intensity", "noise", "deformation")


@dataclass
class Anomaly:
    """An anomalous image, its boolean mask and how it was made."""

    image: np.ndarray
    mask: np.ndarray
    kind: str
    params: dict


def random_ellipsoid(shape: tuple[int, ...], foreground: np.ndarray, rng: np.random.Generator,
                     radius: tuple[float, float] = (4.0, 14.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random axis-rotated ellipse/ellipsoid centred on a foreground voxel.

    Returns (mask, normalised radius field r (r <= 1 inside), centre).
    """
    fg = np.argwhere(foreground)
    if len(fg) == 0:
        raise ValueError("the image has no foreground to place an anomaly in")
    centre = fg[rng.integers(len(fg))].astype(float)
    radii = rng.uniform(*radius, size=len(shape))
    q, _ = np.linalg.qr(rng.normal(size=(len(shape), len(shape))))       # a random rotation
    grids = np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij")
    d = np.stack([g - c for g, c in zip(grids, centre)], axis=-1) @ q      # coordinates in the ellipse frame
    r = np.sqrt(((d / radii) ** 2).sum(-1))
    return r <= 1, r, centre


def add_anomaly(image: np.ndarray, kind: str, rng: np.random.Generator, *, foreground: np.ndarray | None = None,
                radius: tuple[float, float] = (4.0, 14.0)) -> Anomaly:
    """Place one anomaly of ``kind`` in ``image`` (2-D or 3-D); its mask is restricted to the foreground.

    >>> img = np.zeros((32, 32)); img[4:28, 4:28] = 0.5
    >>> a = add_anomaly(img, "intensity", np.random.default_rng(0))
    >>> bool(a.mask.any()), bool(np.all(a.image[~a.mask & (img > 0)] == 0.5) or a.kind == "intensity")
    (True, True)
    """
    if kind not in ANOMALY_KINDS:
        raise ValueError(f"unknown anomaly kind '{kind}'; valid: {', '.join(ANOMALY_KINDS)}")
    image = np.asarray(image, dtype=np.float64)
    fg = image > 0.02 if foreground is None else np.asarray(foreground, dtype=bool)
    ell, r, centre = random_ellipsoid(image.shape, fg, rng, radius)
    out = image.copy()
    params: dict = {"centre": centre.tolist()}
    if kind == "intensity":
        delta = rng.choice([-1, 1]) * rng.uniform(0.2, 0.5)
        weight = np.clip((1 - r) / 0.2, 0, 1)                 # blend over the outer 20 % of the radius
        out = image + delta * weight * fg
        mask = (weight > 0.5) & fg
        params["delta"] = float(delta)
    elif kind == "noise":
        s = rng.uniform(0.1, 0.25)
        out = image + s * rng.normal(size=image.shape) * (ell & fg)
        mask = ell & fg
        params["std"] = float(s)
    else:
        strength = rng.uniform(0.5, 0.8)                       # fraction of the radius the centre moves
        grids = np.meshgrid(*[np.arange(s, dtype=float) for s in image.shape], indexing="ij")
        d = np.stack([g - c for g, c in zip(grids, centre)])
        rmax = np.sqrt((d ** 2).sum(0)).max(initial=1.0)
        # sample from points closer to the centre: content is pushed outward; falls to 0 at r = 1
        fall = np.clip(1 - r, 0, 1) ** 2 * strength
        coords = np.stack([g - f * dd for g, f, dd in zip(grids, [fall] * len(grids), d)])
        out = ndimage.map_coordinates(image, coords, order=1, mode="nearest")
        disp = fall * np.sqrt((d ** 2).sum(0))
        changed = np.abs(out - image) > 0.02
        mask = ell & (disp > 0.5) & fg
        mask = ndimage.binary_closing(mask & ndimage.binary_dilation(changed, iterations=2)) if mask.any() else mask
        params.update(strength=float(strength), rmax=float(rmax))
    out = np.clip(out, 0, 1)
    if not mask.any():                                         # degenerate draw (e.g. tiny region at an edge)
        mask = ell & fg
    return Anomaly(out.astype(np.float32), mask.astype(bool), kind, params)
