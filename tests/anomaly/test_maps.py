"""Map post-processing: Gaussian smoothing over spatial axes only, and normalisation against normal maps."""

import numpy as np
import pytest
import torch

from diffsci.anomaly import MapNormalizer, smooth_map


@pytest.mark.parametrize("spatial_dims", [1, 2, 3])
def test_smoothing_a_delta_gives_the_kernel_moments(spatial_dims):
    """A unit impulse smoothed with std s keeps its mass and has variance s^2 along every spatial axis;
    the batch and channel axes are never mixed."""
    n, s = 21, 2.0
    m = np.zeros((2, 2) + (n,) * spatial_dims)
    centre = (n // 2,) * spatial_dims
    m[(0, 1) + centre] = 1.0
    out = smooth_map(m, s)
    assert out.shape == m.shape
    assert np.abs(out[1]).max() == 0 and np.abs(out[0, 0]).max() == 0
    k = out[0, 1]
    assert abs(k.sum() - 1) < 1e-6
    coords = np.arange(n) - n // 2
    for ax in range(spatial_dims):
        marginal = k.sum(axis=tuple(i for i in range(spatial_dims) if i != ax))
        assert abs((marginal * coords ** 2).sum() - s ** 2) < 0.05


def test_smooth_map_keeps_tensor_type_and_checks_axes():
    t = torch.zeros(1, 1, 9)
    t[0, 0, 4] = 1
    out = smooth_map(t, 1.0)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert int(out[0, 0].argmax()) == 4
    with pytest.raises(ValueError, match="spatial axes"):
        smooth_map(t, (1.0, 2.0))


def test_location_normalizer_z_scores():
    """Per-location z-scores of fresh normal maps are ~N(0, 1); an inserted hot spot stands out."""
    rng = np.random.default_rng(0)
    mean = rng.uniform(0, 5, size=(1, 16))
    std = rng.uniform(0.5, 2, size=(1, 16))
    normal = mean + std * rng.standard_normal((400, 1, 16))
    norm = MapNormalizer().fit(normal)
    fresh = mean + std * rng.standard_normal((400, 1, 16))
    z = norm.transform(fresh)
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05
    hot = fresh[:1].copy()
    hot[0, 0, 7] += 6 * std[0, 7]
    assert int(norm.transform(hot)[0, 0].argmax()) == 7
    back = MapNormalizer.from_state_dict(norm.state_dict())
    np.testing.assert_allclose(back.transform(hot), norm.transform(hot))


def test_global_normalizer_and_errors():
    norm = MapNormalizer(per="global").fit(torch.tensor([[0.0, 2.0], [2.0, 0.0]]))
    z = norm.transform(torch.tensor([1.0, 1.0 + 2 / 3 ** 0.5]))
    torch.testing.assert_close(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="at least 2"):
        MapNormalizer().fit(np.zeros((1, 3)))
    with pytest.raises(RuntimeError, match="before fit"):
        MapNormalizer().transform(np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        MapNormalizer().fit(np.zeros((3, 4))).transform(np.zeros(5))
    with pytest.raises(ValueError, match="per"):
        MapNormalizer(per="pixel")
