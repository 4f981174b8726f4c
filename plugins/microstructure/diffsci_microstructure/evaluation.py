"""Statistics of a set of volumes, and their comparison: what the harness reports for real and generated media."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from .data import random_subvolumes
from .metrics import (chord_length_distribution, euler_density, permeability, pore_size_distribution, porosity,
                      s2_mae_rel, specific_surface, two_point_correlation)

__all__ = ["VolumeStats", "describe", "compare", "by_porosity_half", "matched_floor", "PUBLISHED"]

#: Mosser, Dubrule & Blunt (2017), Phys. Rev. E 96, 043309: Berea sandstone, real sub-volumes vs their GAN.
#: Porosity on 200^3 sub-volumes, specific surface per voxel, permeability (finite-difference Stokes) on 128^3.
PUBLISHED = {
    "published_real": {"porosity": (0.200, 0.007, "200^3"), "specific_surface": (0.0826, None, "per voxel"),
                       "permeability_md": (228.0, 97.0, "128^3")},
    "published_gan": {"porosity": (0.199, 0.007, "200^3"), "specific_surface": (0.0849, None, "per voxel"),
                      "permeability_md": (177.0, 95.0, "128^3")},
}

SCALARS = ("porosity", "specific_surface", "euler", "permeability_md", "coordination", "chord_mean", "pore_size_mean")


@dataclass
class VolumeStats:
    """Per-volume statistics of a set of N volumes (arrays of length N) and the S2 curves (N, r_max + 1)."""

    values: dict[str, np.ndarray] = field(default_factory=dict)
    s2_radial: np.ndarray | None = None
    s2_axes: np.ndarray | None = None                   # (N, ndim, r_max + 1)
    permeability_axes: np.ndarray | None = None         # (N, 3) mD
    chord: tuple[np.ndarray, np.ndarray] | None = None  # pooled histogram (centers, pdf)
    pore_size: tuple[np.ndarray, np.ndarray] | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.values.get("porosity", []))

    def mean_s2(self) -> np.ndarray:
        return self.s2_radial.mean(0)


def describe(volumes: np.ndarray, *, voxel_size: float | None = None, r_max: int | None = None,
             with_permeability: bool = True, with_distributions: bool = True) -> VolumeStats:
    """Porosity, specific surface (Crofton, per voxel), Euler density, S2 (radial and per axis), chord and
    local-thickness means (and pooled histograms), permeability (mD, mean of the three axes) and the mean
    coordination number of its pore network, of each volume.

    Args:
        volumes: (N, *spatial) bool pore masks (2D or 3D; permeability only in 3D and with a voxel size).
    """
    vols = np.asarray(volumes, bool)
    ndim = vols.ndim - 1
    r_max = r_max or min(32, min(vols.shape[1:]) // 2)
    st = VolumeStats()
    t = time.perf_counter()
    st.values["porosity"] = np.array([porosity(v) for v in vols])
    st.values["specific_surface"] = np.array([specific_surface(v) for v in vols])
    st.values["euler"] = np.array([euler_density(v) for v in vols])
    s2 = [two_point_correlation(v, r_max=r_max) for v in vols]
    st.s2_radial = np.stack([s.radial for s in s2])
    st.s2_axes = np.stack([s.axes for s in s2])
    st.seconds["morphology"] = time.perf_counter() - t
    if with_distributions:
        t = time.perf_counter()
        top = max(vols.shape[1:])
        cl = [chord_length_distribution(v, bins=np.arange(0, top + 2) - 0.5) for v in vols]
        ps = [pore_size_distribution(v, bins=np.arange(0, top // 2 + 2) - 0.5) for v in vols]
        st.values["chord_mean"] = np.array([c.mean for c in cl])
        st.values["pore_size_mean"] = np.array([p.mean for p in ps])
        st.chord = (cl[0].centers, np.nanmean([c.pdf for c in cl], 0))
        st.pore_size = (ps[0].centers, np.nanmean([p.pdf for p in ps], 0))
        st.seconds["distributions"] = time.perf_counter() - t
    if with_permeability and ndim == 3 and voxel_size:
        t = time.perf_counter()
        ks, zs = [], []
        for i, v in enumerate(vols):                   # one failed network must not lose the other volumes
            try:
                k = permeability(v, voxel_size)
                ks.append(k["per_axis"])
                zs.append(k.get("coordination", np.nan))
            except Exception as e:                     # noqa: BLE001 (porespy/openpnm raise bare Exceptions)
                warnings.warn(f"permeability of volume {i} (porosity {porosity(v):.3f}) failed, left out: "
                              f"{type(e).__name__}: {e}", RuntimeWarning, stacklevel=2)
                ks.append([np.nan] * 3)
                zs.append(np.nan)
        st.permeability_axes = np.array(ks)
        st.values["permeability_md"] = st.permeability_axes.mean(1)
        st.values["coordination"] = np.array(zs, float)      # throats per pore of the same network
        st.seconds["permeability"] = time.perf_counter() - t
    return st


def compare(real: VolumeStats, gen: VolumeStats) -> dict[str, float]:
    """Relative errors of the generated means against the real ones, S2 MAE over the porosity, and
    whether the generated mean permeability lies within one real standard deviation."""
    def mean(v):                                      # over the finite values (a failed network is NaN)
        v = np.asarray(v, float)
        return float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")

    out = {}
    for k in SCALARS:
        if k in real.values and k in gen.values:
            r, g = mean(real.values[k]), mean(gen.values[k])
            out[f"{k}_rel_error"] = float(abs(g - r) / abs(r)) if r else float("nan")
    out["s2_mae_rel"] = s2_mae_rel(gen.mean_s2(), real.mean_s2(), float(np.mean(real.values["porosity"])))
    if "permeability_md" in real.values and "permeability_md" in gen.values:
        r = real.values["permeability_md"]
        r = r[np.isfinite(r)]
        g = mean(gen.values["permeability_md"])
        out["permeability_within_real_std"] = (float(abs(g - r.mean()) <= np.std(r, ddof=1))
                                               if len(r) > 1 and np.isfinite(g) else float("nan"))
    return out


def by_porosity_half(real: VolumeStats, gen: VolumeStats, key: str = "specific_surface") -> dict[str, float]:
    """Signed relative error of ``gen``'s mean ``key`` against ``real``'s, separately over the real volumes below
    the median porosity (``lower``) and at or above it (``upper``); ``gen[i]`` is the volume generated for
    ``real[i]`` (the harness's matched sets). A generator whose surface grows with porosity where the rock's levels
    off reads right on average and wrong on both halves (docs/benchmarks.md, Microstructure, session 31)."""
    rp = np.asarray(real.values["porosity"], float)
    r, g = np.asarray(real.values[key], float), np.asarray(gen.values[key], float)
    if len(g) != len(r):
        raise ValueError(f"by_porosity_half pairs generated volume i with real volume i: {len(g)} generated "
                         f"against {len(r)} real")
    upper = rp >= np.median(rp)
    out = {}
    for name, m in (("lower", ~upper), ("upper", upper)):
        out[name] = float(g[m].mean() / r[m].mean() - 1) if m.any() and r[m].mean() else float("nan")
        out[f"n_{name}"] = int(m.sum())
        out[f"porosity_{name}"] = float(rp[m].mean()) if m.any() else float("nan")
    return out


def s2_lag_difference(real: VolumeStats, gen: VolumeStats) -> np.ndarray:
    """(mean radial S2 of ``gen`` - that of ``real``) / the real mean porosity, lag by lag: where an S2 error lies
    (its mean absolute value over lags is ``s2_mae_rel``)."""
    return (gen.mean_s2() - real.mean_s2()) / float(np.mean(real.values["porosity"]))


def matched_floor(region: np.ndarray, real: VolumeStats, size: int, *, draws: int = 20, pool: int = 200,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """What :func:`compare` reads for a generator with no error: the floor of the porosity-matched rows.

    A perfect matched generator draws, for each real volume, another piece of the same rock with its porosity.
    Each draw takes ``pool`` random ``size`` cubes of ``region`` (other rock than the real set: the training
    slab), gives every real volume the unused cube of nearest porosity, and compares those cubes with the real
    set exactly as a generated set is compared. The spread over draws is the metric's own noise at this n: a
    generated value above most draws is a real error, not sampling.

    Returns per-draw arrays (``draws``,) of ``s2_mae_rel``, ``porosity_rel_error``,
    ``specific_surface_rel_error`` and ``abs_porosity_gap`` (mean |porosity of the cube - porosity of its real
    volume|: how closely the pool matched), and ``s2_lag_difference`` (``draws``, lags): the per-lag S2 error of
    each draw (:func:`s2_lag_difference`), the band a generated set's own curve is read against.
    """
    phi = np.asarray(real.values["porosity"], float)
    if pool < len(phi):
        raise ValueError(f"a pool of {pool} cubes cannot match {len(phi)} real volumes without repeats")
    region = np.asarray(region, bool)
    out: dict[str, list[float]] = {"s2_mae_rel": [], "porosity_rel_error": [], "specific_surface_rel_error": [],
                                   "abs_porosity_gap": [], "s2_lag_difference": []}
    r_max = real.s2_radial.shape[1] - 1
    for d in range(int(draws)):
        cubes = random_subvolumes(region, size, pool, seed=seed + d, spatial_dims=real.s2_axes.shape[1])
        cphi = cubes.reshape(pool, -1).mean(1)
        free = np.ones(pool, bool)
        pick = []
        for p in phi:                                        # nearest unused cube, in the real set's order
            j = int(np.argmin(np.where(free, np.abs(cphi - p), np.inf)))
            free[j] = False
            pick.append(j)
        st = describe(cubes[pick], r_max=r_max, with_permeability=False, with_distributions=False)
        c = compare(real, st)
        for k in ("s2_mae_rel", "porosity_rel_error", "specific_surface_rel_error"):
            out[k].append(c[k])
        out["abs_porosity_gap"].append(float(np.mean(np.abs(cphi[pick] - phi))))
        out["s2_lag_difference"].append(s2_lag_difference(real, st))
    return {k: np.asarray(v) for k, v in out.items()}
