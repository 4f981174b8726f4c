"""The symmetries of the square (8) and of the cube (48): data augmentation for isotropic media.

A symmetry is a signed permutation of the spatial axes: output axis i is input axis ``perm[i]``, reversed
where ``flips[i]``. As a matrix acting on coordinates, :math:`S = F P` with P a permutation matrix and
F = diag(+-1); the 48 of them form the full octahedral group O_h (rotations and reflections of the cube),
the 8 in 2D the dihedral group D_4.
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch

__all__ = ["symmetries", "apply_symmetry", "symmetry_matrix", "compose", "inverse"]

Symmetry = tuple[tuple[int, ...], tuple[bool, ...]]


@lru_cache(maxsize=None)
def symmetries(ndim: int = 3) -> tuple[Symmetry, ...]:
    """All ndim! * 2**ndim signed axis permutations (identity first): 48 in 3D, 8 in 2D.

    >>> len(symmetries(3)), len(symmetries(2)), symmetries(3)[0]
    (48, 8, ((0, 1, 2), (False, False, False)))
    """
    if ndim not in (1, 2, 3):
        raise ValueError(f"symmetries are defined here for 1, 2 or 3 spatial axes, got {ndim}")
    return tuple((p, f) for p in itertools.permutations(range(ndim))
                 for f in itertools.product((False, True), repeat=ndim))


def symmetry_matrix(sym: Symmetry) -> np.ndarray:
    """The signed permutation matrix S with (S c)_i = +-c_{perm[i]} for centred coordinates c."""
    perm, flips = sym
    n = len(perm)
    m = np.zeros((n, n), dtype=int)
    for i, (p, f) in enumerate(zip(perm, flips)):
        m[i, p] = -1 if f else 1
    return m


def _from_matrix(m: np.ndarray) -> Symmetry:
    perm = tuple(int(np.flatnonzero(row)[0]) for row in m)
    return perm, tuple(bool(row[p] < 0) for row, p in zip(m, perm))


def compose(a: Symmetry, b: Symmetry) -> Symmetry:
    """The symmetry 'b, then a': apply_symmetry(x, compose(a, b)) == apply_symmetry(apply_symmetry(x, b), a)."""
    return _from_matrix(symmetry_matrix(a) @ symmetry_matrix(b))


def inverse(a: Symmetry) -> Symmetry:
    """The inverse symmetry (S^-1 = S^T for a signed permutation)."""
    return _from_matrix(symmetry_matrix(a).T)


def apply_symmetry(x, sym: Symmetry | int, *, spatial_axes: int | None = None):
    """Apply a symmetry (or its index in :func:`symmetries`) to the LAST ``len(perm)`` axes of x.

    Works on NumPy arrays and torch tensors; leading axes (batch, channel) are untouched. Returns a view
    where possible (NumPy) or a new tensor (torch).

    >>> x = np.arange(6).reshape(2, 3)
    >>> apply_symmetry(x, ((1, 0), (False, True))).tolist()    # transpose, then flip the new last axis
    [[3, 0], [4, 1], [5, 2]]
    """
    if isinstance(sym, (int, np.integer)):
        n = spatial_axes if spatial_axes is not None else min(3, x.ndim)
        sym = symmetries(n)[int(sym)]
    perm, flips = sym
    n = len(perm)
    if x.ndim < n:
        raise ValueError(f"a {n}-axis symmetry needs an array with at least {n} axes, got shape {tuple(x.shape)}")
    lead = x.ndim - n
    order = list(range(lead)) + [lead + p for p in perm]
    dims = [lead + i for i, f in enumerate(flips) if f]
    if isinstance(x, torch.Tensor):
        y = x.permute(*order)
        return y.flip(dims) if dims else y.contiguous()
    y = np.transpose(x, order)
    return np.flip(y, axis=dims) if dims else y
