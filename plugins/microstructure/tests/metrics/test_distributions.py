import numpy as np
import pytest

from diffsci_microstructure.metrics import chord_length_distribution, pore_size_distribution


def test_chords_across_lamellae_have_the_layer_thickness():
    a, P = 5, 12
    m = np.zeros((60, 20, 20), bool)
    for start in range(3, 60 - P, P):
        m[start:start + a] = True
    d = chord_length_distribution(m, axes=[0])
    assert d.mean == pytest.approx(a)
    assert d.pdf[np.argmin(np.abs(d.centers - a))] > 0


def test_local_thickness_of_a_ball_is_its_radius(ball):
    # every voxel of a ball of radius R lies in the ball itself: local thickness R, up to digitisation
    # (porespy's distance-transform method floors the radii, and the boundary voxels' spheres are smaller)
    r = 8
    d = pore_size_distribution(ball(25, r), bins=np.arange(0, 12) - 0.5)
    median = d.centers[np.searchsorted(np.cumsum(d.pdf), 0.5)]
    assert r - 1 <= median <= r and 0.75 * r < d.mean <= r
    assert np.sum(d.pdf * 1.0) == pytest.approx(1.0)
