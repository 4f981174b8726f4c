"""Scalar morphology of a pore mask (True = pore): porosity, specific surface area, Euler characteristic.

These are (up to normalisation) the Minkowski functionals that Mosser et al. (2017) compare between real
and generated media: volume (porosity), surface (specific surface area S_V), and the Euler characteristic.
"""

from __future__ import annotations

import numpy as np

__all__ = ["porosity", "specific_surface", "euler_density", "interface_phase_density"]


def _mask(pore, what: str = "pore mask") -> np.ndarray:
    a = np.asarray(pore)
    if a.dtype != bool:
        vals = np.unique(a)
        if not set(vals.tolist()) <= {0, 1}:
            raise ValueError(f"{what}: expected a boolean pore mask (True = pore), got values {vals[:5]} "
                             "(binarize the volume first)")
        a = a.astype(bool)
    if a.ndim not in (2, 3):
        raise ValueError(f"{what}: expected a 2D or 3D mask, got shape {a.shape}")
    return a


def porosity(pore) -> float:
    """Pore volume fraction phi = (number of pore voxels) / (number of voxels).

    >>> porosity(np.array([[True, False], [False, False]]))
    0.25
    """
    return float(_mask(pore).mean())


def specific_surface(pore, *, method: str = "crofton", voxel_size: float | None = None) -> float:
    r"""Specific surface area S_V: pore-grain interface area per unit volume (per voxel, or per metre).

    Methods:
        "crofton": the stereological (Cauchy-Crofton) estimate for an isotropic medium,
            :math:`S_V = 2\,\overline{P_L}`, where :math:`P_L` is the number of pore/grain transitions per
            unit length along a test line, averaged over the three (two) axes. Counting voxel faces
            overestimates an isotropic surface by 3/2 (2D perimeter by 4/pi); this estimator does not
            (a digitised sphere of radius 12-30 voxels is within 1 %), but it assumes isotropy (a flat slab
            normal to an axis reads 2/3 of its area). Written by hand: neither porespy nor scikit-image
            has it, and it is three lines of counting.
        "marching_cubes": area of the scikit-image marching-cubes mesh at level 0.5 (exact for flat
            axis-aligned faces; about +9 % on digitised curved surfaces). 3D only.

    Mosser et al. (2017) report S_V = 0.0826 (real Berea) per voxel; the Crofton estimate on this
    Berea image is 0.0850 +- 0.001 on 200^3 subvolumes and marching cubes 0.090.

    >>> slab = np.zeros((8, 8, 8), bool); slab[:, :, 2:6] = True
    >>> specific_surface(slab, method="marching_cubes") == 2 * 7 * 7 / 512   # two faces spanning 7 x 7 voxel steps
    True
    """
    a = _mask(pore)
    if method == "crofton":
        # P_L along axis d: pore/grain transitions between neighbours per unit length of test line, the
        # total line length being one voxel edge per voxel
        pl = [np.count_nonzero(np.diff(a.astype(np.int8), axis=d)) / a.size for d in range(a.ndim)]
        # 3D: S_V = 2 <P_L>; 2D: perimeter per area L_A = (pi/2) <P_L>
        sv = (2.0 if a.ndim == 3 else np.pi / 2) * float(np.mean(pl))
    elif method == "marching_cubes":
        if a.ndim != 3:
            raise ValueError("specific_surface(method='marching_cubes') needs a 3D mask; use 'crofton' in 2D")
        from skimage.measure import marching_cubes, mesh_surface_area
        if a.all() or not a.any():
            return 0.0
        verts, faces, _, _ = marching_cubes(a.astype(np.float32), 0.5)
        sv = float(mesh_surface_area(verts, faces)) / a.size
    else:
        raise ValueError(f"unknown specific-surface method '{method}'; use 'crofton' or 'marching_cubes'")
    return sv / voxel_size if voxel_size else sv


def euler_density(pore, *, connectivity: int | None = None) -> float:
    """Euler characteristic of the pore phase per voxel (scikit-image ``euler_number``).

    In 3D chi = (objects) - (tunnels) + (cavities); well-connected pore spaces have chi < 0.
    ``connectivity`` is the pore-phase neighbourhood (1 = faces, ndim = full; default full, scikit-image's).

    >>> ring = np.zeros((5, 5), bool); ring[1:4, 1:4] = True; ring[2, 2] = False
    >>> euler_density(ring) * ring.size          # one object with one hole
    0.0
    """
    from skimage.measure import euler_number
    a = _mask(pore)
    return float(euler_number(a, connectivity=connectivity or a.ndim)) / a.size


def interface_phase_density(pore, period: int, *, periodic: bool = False, origin: int = 0) -> np.ndarray:
    """Interface density between neighbouring planes, by plane phase: entry k is the fraction of voxel pairs
    (i, i+1) that cross the pore-grain interface, over the planes i with (i - origin) mod ``period`` = k,
    averaged over all axes.

    A real rock gives ``period`` equal values (up to sampling noise); a network that down-samples by
    ``period`` and is used with a fixed grid can pile interfaces onto one phase of its grid (a checkerboard
    artefact, docs/microstructure.md). ``periodic`` also counts the pair (last plane, first plane).

    >>> layers = np.zeros((8, 8, 8), bool); layers[4:] = True            # one interface, between planes 3|4
    >>> interface_phase_density(layers, 4).round(3).tolist()
    [0.0, 0.0, 0.0, 0.333]
    """
    a = _mask(pore)
    if period < 1:
        raise ValueError(f"period must be >= 1, got {period}")
    sums, counts = np.zeros(period), np.zeros(period)
    for axis in range(a.ndim):
        x = np.moveaxis(a, axis, 0)
        nxt = np.roll(x, -1, 0) if periodic else x[1:]
        per_plane = (x[:len(nxt)] != nxt).reshape(len(nxt), -1).mean(1)
        phase = (np.arange(len(nxt)) - origin) % period
        sums += np.bincount(phase, per_plane, minlength=period)
        counts += np.bincount(phase, minlength=period)
    return sums / np.maximum(counts, 1)
