"""k-space masks: fastMRI's centre fractions and accelerations, Poisson-disc masks."""

import numpy as np
import pytest

from diffsci_mri.kspace import (CENTER_FRACTIONS, acceleration_of, cartesian_mask, column_mask_2d,
                                equispaced_mask_1d, poisson_mask_2d, random_mask_1d)


@pytest.mark.parametrize("accel", [4, 8])
@pytest.mark.parametrize("num_cols", [320, 368, 128])
def test_random_mask_centre_block_and_expected_acceleration(accel, num_cols):
    cf = CENTER_FRACTIONS[accel]
    num_low = int(round(num_cols * cf))
    pad = (num_cols - num_low + 1) // 2
    counts = []
    for seed in range(400):
        m = random_mask_1d(num_cols, accel, cf, seed=seed)
        assert m[pad:pad + num_low].all()                         # the centre block, fastMRI's placement
        counts.append(m.sum())
    # E[#columns] = N_low + (N - N_low) p with p = (N/R - N_low) / (N - N_low) = N / R exactly
    p = (num_cols / accel - num_low) / (num_cols - num_low)
    se = np.sqrt((num_cols - num_low) * p * (1 - p) / len(counts))
    assert abs(np.mean(counts) - num_cols / accel) < 4 * se


def test_random_mask_outside_centre_is_bernoulli_p():
    m = np.stack([random_mask_1d(368, 4, 0.08, seed=s) for s in range(300)])
    num_low = round(368 * 0.08)
    pad = (368 - num_low + 1) // 2
    outside = np.delete(m, np.s_[pad:pad + num_low], axis=1)
    p = (368 / 4 - num_low) / (368 - num_low)
    assert abs(outside.mean() - p) < 4 * np.sqrt(p * (1 - p) / outside.size)
    # every column outside the centre equally likely (no structure): a chi-square style bound
    col = outside.mean(0)
    assert np.abs(col - p).max() < 5 * np.sqrt(p * (1 - p) / m.shape[0])


@pytest.mark.parametrize("accel", [4, 8])
def test_equispaced_mask_matches_fastmri_construction(accel):
    n, cf = 320, CENTER_FRACTIONS[accel]
    num_low = int(round(n * cf))
    for seed in range(5):
        m = equispaced_mask_1d(n, accel, cf, seed=seed)
        pad = (n - num_low + 1) // 2
        assert m[pad:pad + num_low].all()
        adjusted = accel * (num_low - n) / (num_low * accel - n)
        outside = np.flatnonzero(np.delete(m, np.s_[pad:pad + num_low]))
        assert abs(acceleration_of(m) - accel) / accel < 0.1
        # the outer columns are spaced by round(k * adjusted): gaps of floor/ceil of adjusted
        gaps = np.diff(np.flatnonzero(m))
        assert gaps.max() <= np.ceil(adjusted) and len(outside) > 0


def test_mask_errors_and_dispatch():
    with pytest.raises(ValueError, match="more than the"):
        random_mask_1d(100, 8, 0.3)
    with pytest.raises(ValueError, match="unknown mask kind 'radial'"):
        cartesian_mask("radial", 64, 4)
    np.testing.assert_array_equal(cartesian_mask("random", 64, 4, 0.08, seed=3), random_mask_1d(64, 4, 0.08, seed=3))
    m2 = column_mask_2d(random_mask_1d(16, 4, 0.08, seed=0), 5)
    assert m2.shape == (5, 16) and (m2 == m2[0]).all()


def test_default_centre_fraction_is_fastmri_pair():
    np.testing.assert_array_equal(random_mask_1d(320, 8, seed=1), random_mask_1d(320, 8, 0.04, seed=1))


def test_poisson_mask_acceleration_and_calibration():
    m = poisson_mask_2d((96, 80), 6, calib=(16, 16), seed=0)
    assert m.dtype == bool and m.shape == (96, 80)
    assert abs(acceleration_of(m) - 6) / 6 < 0.15
    assert m[40:56, 32:48].all()                                   # the centred calibration square
    # variable density: the inner half of k-space is sampled more densely than the outer ring
    yy, xx = np.meshgrid(np.linspace(-1, 1, 96), np.linspace(-1, 1, 80), indexing="ij")
    r = np.hypot(yy, xx)
    assert m[(r > 0.25) & (r < 0.5)].mean() > 1.5 * m[(r > 0.75) & (r < 1.0)].mean()
    with pytest.raises(ValueError, match="larger than the k-space grid"):
        poisson_mask_2d((8, 8), 2, calib=(16, 16))
