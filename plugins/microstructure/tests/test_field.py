import numpy as np
import pytest

from diffsci_microstructure.field import fluctuation_spectrum, sample_porosity_maps


def test_independent_voxels_have_a_flat_spectrum_and_box_variance_p_q_over_box_volume():
    p = 0.3
    region = np.random.default_rng(0).random((40, 40, 40)) < p
    spec = fluctuation_spectrum(region, 16, n=100, seed=1)
    assert spec.shape == (16, 16, 16) and spec[0, 0, 0] == pytest.approx(0, abs=1e-12)
    assert spec.ravel()[1:].mean() == pytest.approx(p * (1 - p), rel=0.02)       # S(k) = p q for k != 0
    maps = sample_porosity_maps(spec, [0.4, 0.45] * 100, box=4, seed=2)
    assert maps.shape == (200, 16, 16, 16)
    # each map averages to its target (S(0) = 0) ...
    np.testing.assert_allclose(maps.mean(axis=(1, 2, 3)), [0.4, 0.45] * 100, atol=1e-12)
    # ... with the variance of the box average, (1/N) sum_k S(k) |H_box(k)|^2 ...
    var = ((maps - maps.mean(axis=(1, 2, 3), keepdims=True)) ** 2).mean()
    h = np.zeros((16, 16, 16))
    h[:4, :4, :4] = 1 / 4 ** 3
    assert var == pytest.approx((spec * np.abs(np.fft.fftn(h)) ** 2).sum() / 16 ** 3, rel=0.03)
    # ... which for independent voxels is p q (1/b^3 - 1/N) (up to the low-k modes of this one small region)
    assert var == pytest.approx(p * (1 - p) * (1 / 4 ** 3 - 1 / 16 ** 3), rel=0.1)


def test_a_layered_rock_gives_maps_that_vary_across_the_layers_only():
    layers = np.repeat(np.random.default_rng(3).random(64) < 0.4, 32 * 32).reshape(64, 32, 32)   # slabs along 0
    maps = sample_porosity_maps(fluctuation_spectrum(layers, 16, n=50), 0.4, box=2, n=20, seed=0)
    along = maps.std(axis=1).mean()                 # across the layers
    within = maps.std(axis=(2, 3)).mean()           # inside one layer
    assert along > 0.1 and within < 1e-9


def test_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"crops of shape \(32, 32, 32\) do not fit in a region of shape \(16, 40, 40\)"):
        fluctuation_spectrum(np.zeros((16, 40, 40), bool), 32)
    with pytest.raises(ValueError, match="box must be at least one voxel"):
        sample_porosity_maps(np.ones((4, 4, 4)), 0.2, box=0)
