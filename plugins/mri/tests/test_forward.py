"""Forward models (engine operators in the centred layout), FFT conventions and coil maps."""

import numpy as np
import pytest
import torch

from diffsci_mri.forward import kspace_operator, multi_coil, noise_std_from_corners, single_coil
from diffsci_mri.kspace import (absorb_phase, espirit_maps, fft2c, ifft2c, lowres_maps, random_mask_1d, rss,
                                sense_combine)


def _smooth_maps(k, h, w, seed=0):
    """Smooth complex coil maps normalised to sum |S|^2 = 1 (Gaussian bumps around the FOV)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = []
    for c in range(k):
        a = 2 * np.pi * c / k
        mag = np.exp(-((yy - 0.8 * np.cos(a)) ** 2 + (xx - 0.8 * np.sin(a)) ** 2))
        phase = rng.uniform(-1, 1) * yy + rng.uniform(-1, 1) * xx
        maps.append(mag * np.exp(1j * phase))
    maps = np.stack(maps)
    return (maps / np.sqrt((np.abs(maps) ** 2).sum(0))).astype(np.complex64)


def test_centred_fft_is_unitary_and_centred():
    x = np.zeros((6, 8))
    x[:] = 2.0
    k = fft2c(x)
    assert np.isclose(k[3, 4], 2.0 * np.sqrt(48)) and np.abs(np.delete(k.ravel(), 3 * 8 + 4)).max() < 1e-12
    t = torch.randn(2, 5, 7, dtype=torch.float64)
    torch.testing.assert_close(ifft2c(fft2c(t)).real, t)
    np.testing.assert_allclose(fft2c(t.numpy()), fft2c(t).numpy(), atol=1e-12)


def test_single_coil_matches_masked_centred_fft_and_is_adjoint():
    g = torch.Generator().manual_seed(0)
    mask = random_mask_1d(16, 4, 0.08, seed=0)
    A = single_coil(mask)
    x = torch.rand(2, 1, 12, 16, generator=g, dtype=torch.float64)
    y = A(x)
    expect = fft2c(x.numpy()) * mask[None, None, None, :]
    np.testing.assert_allclose(y.numpy(), expect, atol=1e-12)
    yr = torch.complex(torch.randn(2, 1, 12, 16, generator=g, dtype=torch.float64),
                       torch.randn(2, 1, 12, 16, generator=g, dtype=torch.float64))
    assert A.adjointness_gap(x, yr) < 1e-12


def test_multi_coil_adjoint_and_sense_identity():
    g = torch.Generator().manual_seed(1)
    S = torch.from_numpy(_smooth_maps(4, 12, 10).astype(np.complex128))
    A = multi_coil(S, random_mask_1d(10, 4, 0.2, seed=1))
    x = torch.rand(1, 1, 12, 10, generator=g, dtype=torch.float64)
    y = torch.complex(torch.randn(1, 1, 4, 12, 10, generator=g, dtype=torch.float64),
                      torch.randn(1, 1, 4, 12, 10, generator=g, dtype=torch.float64))
    assert A.adjointness_gap(x, y) < 1e-12
    # fully sampled with sum |S|^2 = 1: A^H A = I on real images, and RSS of the coil images = |x|
    F = multi_coil(S, None)
    torch.testing.assert_close(F.adjoint(F(x)), x)
    torch.testing.assert_close(rss(ifft2c(F(x)), axis=2), x)


def test_kspace_operator_factory():
    A = kspace_operator(acceleration=8, kind="equispaced", width=64)
    assert abs(64 / float(A.mask_u.sum()) - 8) < 1.0
    P = kspace_operator(acceleration=4, kind="poisson", width=32, height=32)
    assert P.mask_shape == (32, 32)


def test_lowres_maps_are_normalised_and_recover_smooth_maps():
    h, w = 48, 40
    S = _smooth_maps(6, h, w)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    x = ((yy ** 2 / 0.8 + xx ** 2 / 0.6) < 0.8).astype(float) * (1 + 0.3 * yy)
    k = fft2c(S * x[None])
    est = lowres_maps(k, calib_width=16)
    inside = (np.abs(est) ** 2).sum(0) > 0
    np.testing.assert_allclose((np.abs(est) ** 2).sum(0)[inside], 1.0, atol=1e-5)
    # the SENSE combination with the estimated maps reproduces |x| inside the object's interior
    comb = np.abs(sense_combine(ifft2c(k), est))
    core = ((yy ** 2 / 0.8 + xx ** 2 / 0.6) < 0.5) & inside
    assert np.abs(comb[core] - x[core]).max() < 0.1


def test_espirit_and_absorbed_phase_make_the_object_real():
    h, w = 48, 40
    S = _smooth_maps(6, h, w, seed=2)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    obj = ((yy ** 2 / 0.8 + xx ** 2 / 0.6) < 0.8) * (1 + 0.3 * yy)
    x = obj * np.exp(1j * (0.8 * xx + 0.3))                    # a smooth object phase
    k = fft2c(S * x[None]).astype(np.complex64)
    maps = espirit_maps(k, calib_width=20)
    m2 = absorb_phase(maps, k, calib_width=20)
    comb = sense_combine(ifft2c(k), m2)
    core = ((yy ** 2 / 0.8 + xx ** 2 / 0.6) < 0.5)
    # in the phase-absorbed maps the object is real and positive: the imaginary part is tiny
    assert np.abs(comb[core].imag).max() < 0.05 * np.abs(comb[core]).max()
    np.testing.assert_allclose(np.abs(comb[core]), obj[core], rtol=0.05)


def test_coil_errors():
    with pytest.raises(ValueError, match="must be complex"):
        lowres_maps(np.ones((4, 4)))
    with pytest.raises(ValueError, match="calibration width 24 exceeds"):
        espirit_maps(np.ones((2, 16, 16), np.complex64))


def test_noise_std_from_corners():
    rng = np.random.default_rng(0)
    k = 0.3 * (rng.normal(size=(4, 200, 50)) + 1j * rng.normal(size=(4, 200, 50)))
    assert abs(noise_std_from_corners(k) - 0.3) < 0.02


def test_noise_std_from_corners_ignores_unsampled_columns():
    """Regression: the zeros of unsampled columns (zero-filled k-space at 4x and 8x) must not enter the MAD;
    they did, the estimate was exactly 0 and the multi-coil diffusion ran noiseless data consistency."""
    from diffsci_mri.kspace import cartesian_mask
    rng = np.random.default_rng(1)
    k = 0.3 * (rng.normal(size=(4, 200, 64)) + 1j * rng.normal(size=(4, 200, 64)))
    for R, cf in ((4, 0.08), (8, 0.04)):
        mask = cartesian_mask("random", 64, R, cf, seed=R)
        assert abs(noise_std_from_corners(k * mask) - 0.3) < 0.03
    with pytest.raises(ValueError, match="no acquired"):
        noise_std_from_corners(np.zeros((2, 16, 8), np.complex64))
