"""PSNR, NMSE and SSIM: known values, 1D/2D/3D shapes."""

import math

import numpy as np
import pytest
import torch

from diffsci.metrics import nmse, psnr, ssim


def test_psnr_and_nmse_known_values():
    ref = np.array([0.0, 1.0, 2.0, 3.0])
    est = ref + np.array([0.1, -0.1, 0.1, -0.1])             # MSE = 0.01
    assert psnr(est, ref) == pytest.approx(10 * math.log10(9 / 0.01))
    assert psnr(est, ref, data_range=1.0) == pytest.approx(20.0)
    assert nmse(est, ref) == pytest.approx(0.04 / 14)
    assert psnr(ref, ref) == math.inf
    assert nmse(torch.tensor([1.0, 1j]), torch.tensor([1.0, 1.0])) == 0.0   # magnitudes of complex data


@pytest.mark.parametrize("shape", [(64,), (16, 16), (8, 8, 8)])
def test_ssim_identity_and_degradation(shape):
    rng = np.random.default_rng(0)
    ref = rng.random(shape)
    assert ssim(ref, ref) == pytest.approx(1.0)
    noisy = ref + rng.normal(0, 0.3, shape)
    assert ssim(noisy, ref) < ssim(ref + rng.normal(0, 0.05, shape), ref) < 1.0
    assert ssim(np.stack([ref, ref]), np.stack([ref, ref]), channel_axis=0) == pytest.approx(1.0)


def test_shape_mismatch_and_tiny_inputs():
    with pytest.raises(ValueError, match="shape"):
        psnr(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match=">= 3"):
        ssim(np.zeros((2, 8)), np.ones((2, 8)))
