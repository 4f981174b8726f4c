import itertools

import numpy as np
import pytest
import torch

from diffsci_microstructure.symmetry import apply_symmetry, compose, inverse, symmetries, symmetry_matrix


@pytest.mark.parametrize("ndim, order", [(2, 8), (3, 48)])
def test_symmetries_are_distinct_on_a_generic_volume(ndim, order):
    x = np.random.default_rng(0).random((5,) * ndim)
    images = {apply_symmetry(x, s).tobytes() for s in symmetries(ndim)}
    assert len(symmetries(ndim)) == order and len(images) == order


@pytest.mark.parametrize("ndim", [2, 3])
def test_they_form_a_group(ndim):
    group = set(symmetries(ndim))
    ident = symmetries(ndim)[0]
    assert np.array_equal(symmetry_matrix(ident), np.eye(ndim))
    x = np.random.default_rng(1).random((4, 5, 6)[:ndim])
    for a, b in itertools.product(group, repeat=2):
        ab = compose(a, b)
        assert ab in group                                                          # closure
        np.testing.assert_array_equal(apply_symmetry(x, ab), apply_symmetry(apply_symmetry(x, b), a))
    for a in group:
        assert compose(a, inverse(a)) == ident and compose(inverse(a), a) == ident  # inverses
        assert round(abs(np.linalg.det(symmetry_matrix(a)))) == 1


def test_half_are_rotations():
    dets = [round(np.linalg.det(symmetry_matrix(s))) for s in symmetries(3)]
    assert dets.count(1) == 24 and dets.count(-1) == 24                     # O (rotations) in O_h


def test_porosity_preserved_and_torch_matches_numpy():
    pore = np.random.default_rng(2).random((2, 1, 6, 6, 6)) < 0.3
    for k in range(48):
        y = apply_symmetry(pore, k)
        assert y.shape == pore.shape and y.sum() == pore.sum()
        np.testing.assert_array_equal(apply_symmetry(torch.from_numpy(pore), k).numpy(), y)
