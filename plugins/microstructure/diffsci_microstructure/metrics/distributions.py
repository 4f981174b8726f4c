"""Size distributions of the pore space (porespy): chord lengths and local thickness (pore sizes)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .morphology import _mask

__all__ = ["Distribution", "chord_length_distribution", "pore_size_distribution"]


@dataclass
class Distribution:
    """A histogram: bin ``centers`` (voxels), probability density ``pdf`` (sums to 1 over bin widths)
    and the mean of the underlying values."""

    centers: np.ndarray
    pdf: np.ndarray
    mean: float


def _quiet():
    import porespy as ps
    ps.settings.tqdm["disable"] = True
    return ps


def chord_length_distribution(pore, *, axes=None, bins: np.ndarray | int = 32, max_length: int | None = None,
                              spacing: int = 1) -> Distribution:
    """Lengths of pore chords (runs of pore voxels along an axis), pooled over ``axes`` (default all).

    porespy's ``apply_chords`` draws the chords on every (spacing+1)-th line and drops the ones that touch
    the volume's edges (their length is unknown); ``chord_counts`` measures them.
    """
    ps = _quiet()
    a = _mask(pore)
    lengths = []
    for ax in (range(a.ndim) if axes is None else axes):
        chords = ps.filters.apply_chords(a, axis=ax, spacing=spacing, trim_edges=True)
        with warnings.catch_warnings():               # porespy 3.2 uses a deprecated scikit-image property
            warnings.simplefilter("ignore", FutureWarning)
            counts = ps.metrics.chord_counts(chords)
        lengths.append(np.asarray(counts, dtype=float))
    lengths = np.concatenate(lengths) if lengths else np.zeros(0)
    return _histogram(lengths, bins, max_length or max(a.shape))


def pore_size_distribution(pore, *, bins: np.ndarray | int = 32, max_radius: int | None = None,
                           sizes: int = 25) -> Distribution:
    """Distribution of the local thickness (radius of the largest inscribed sphere covering each pore
    voxel; Hildebrand & Ruegsegger 1997) over the pore voxels, by porespy ``local_thickness`` (method 'dt')."""
    ps = _quiet()
    a = _mask(pore)
    if not a.any():
        return Distribution(np.zeros(0), np.zeros(0), float("nan"))
    lt = ps.filters.local_thickness(a, method="dt", sizes=sizes)
    return _histogram(np.asarray(lt[a], dtype=float), bins, max_radius or max(1, int(np.ceil(lt.max()))))


def _histogram(values: np.ndarray, bins, top: float) -> Distribution:
    edges = np.asarray(bins, float) if np.ndim(bins) else np.linspace(0, top, int(bins) + 1)
    if values.size == 0:
        return Distribution(0.5 * (edges[1:] + edges[:-1]), np.zeros(len(edges) - 1), float("nan"))
    pdf, edges = np.histogram(values, bins=edges, density=True)
    return Distribution(0.5 * (edges[1:] + edges[:-1]), pdf, float(values.mean()))
