import numpy as np
import pytest

from diffsci_microstructure.metrics import lag_correlation, s2_mae_rel, two_point_correlation


def _brute_axis(m, axis, r, periodic):
    if periodic:
        return np.mean(m & np.roll(m, -r, axis=axis))
    a = np.take(m, range(0, m.shape[axis] - r), axis=axis)
    b = np.take(m, range(r, m.shape[axis]), axis=axis)
    return np.mean(a & b)


@pytest.mark.parametrize("periodic", [False, True])
def test_fft_matches_the_definition_per_axis(periodic):
    m = np.random.default_rng(0).random((12, 14, 16)) < 0.35
    s = two_point_correlation(m, r_max=5, periodic=periodic)
    for ax in range(3):
        for r in range(6):
            assert s.axes[ax, r] == pytest.approx(_brute_axis(m, ax, r, periodic), abs=1e-12)
    assert s.radial[0] == s.porosity == pytest.approx(m.mean())


def test_radial_average_matches_brute_force_on_the_torus():
    m = np.random.default_rng(1).random((10, 10, 10)) < 0.4
    r_max = 3
    s = two_point_correlation(m, r_max=r_max, periodic=True)
    sums, counts = np.zeros(r_max + 1), np.zeros(r_max + 1)
    rng = range(-r_max, r_max + 1)
    for dx in rng:
        for dy in rng:
            for dz in rng:
                d = int(np.rint(np.sqrt(dx * dx + dy * dy + dz * dz)))
                if d <= r_max:
                    sums[d] += np.mean(m & np.roll(m, (-dx, -dy, -dz), axis=(0, 1, 2)))
                    counts[d] += 1
    np.testing.assert_allclose(s.radial, sums / counts, atol=1e-12)


def test_limits_s2_0_is_phi_and_s2_large_is_phi_squared():
    m = np.random.default_rng(2).random((48, 48, 48)) < 0.2       # independent voxels: S2(r>0) = phi^2
    s = two_point_correlation(m, r_max=10)
    phi = m.mean()
    assert s.radial[0] == pytest.approx(phi)
    np.testing.assert_allclose(s.radial[1:], phi ** 2, atol=0.002)


def test_lamellae_have_the_triangle_covariance():
    # pore layers of thickness a every P voxels along axis 0: S2(r) = (a - r) / P for 0 <= r <= a (a <= P/2)
    a, P = 4, 12
    m = np.zeros((48, 8, 8), bool)
    for start in range(0, 48, P):
        m[start:start + a] = True
    s = two_point_correlation(m, r_max=6, periodic=True)
    np.testing.assert_allclose(s.axes[0, :a + 1], [(a - r) / P for r in range(a + 1)], atol=1e-12)
    np.testing.assert_allclose(s.axes[1], a / P, atol=1e-12)       # along the layers: S2 = phi


def test_s2_mae_rel_and_bad_r_max():
    assert s2_mae_rel([0.2, 0.1], [0.2, 0.12], 0.2) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="r_max"):
        two_point_correlation(np.ones((4, 4), bool), r_max=9)


def test_lag_correlation_closed_forms():
    rng = np.random.default_rng(3)
    block = rng.random((8, 8, 8)) < 0.25
    copies = np.tile(block, (2, 2, 2))                          # I(x + 8 e_k) = I(x) on every axis: rho = 1
    assert lag_correlation(copies, 8) == pytest.approx(1.0, abs=1e-12)
    i, j, k = np.indices((16, 16, 16)) // 8
    anti = copies ^ ((i + j + k) % 2 == 1)                      # I(x + 8 e_k) = 1 - I(x) on every axis: rho = -1
    assert lag_correlation(anti, 8) == pytest.approx(-1.0, abs=1e-12)
    assert lag_correlation(~copies, 8) == pytest.approx(1.0, abs=1e-12)          # pore or grain: the same
    iid = rng.random((40, 40, 40)) < 0.2                        # independent voxels: ~ N(0, 1 / pairs) per axis
    assert abs(lag_correlation(iid, 5)) < 4 / np.sqrt(3 * 35 * 40 * 40)


def test_lag_correlation_rejects_bad_lags():
    with pytest.raises(ValueError, match="lag 0"):
        lag_correlation(np.ones((4, 4, 4), bool), 0)
    with pytest.raises(ValueError, match="lag 4"):
        lag_correlation(np.ones((4, 4, 4), bool), 4)
