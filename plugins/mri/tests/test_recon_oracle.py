"""The reconstruction harness's diffusion path with an exact Gaussian prior (the oracle).

With a prior x ~ N(mu, F^H diag(lambda) F) (diffsci's FourierGaussianDenoiser) and noiseless single-coil
column sampling of a REAL image, the posterior is Gaussian and diagonal in k-space: the frequencies of
the sampled columns and of their mirror columns (x real => X(-k) = conj X(k)) are known, every other
frequency keeps the prior's mean. The posterior mean is therefore closed-form, and it beats the
zero-filled image (which sets the unknown frequencies to 0 instead of the prior mean). These tests
check that the harness's code path (centred masks -> single_coil -> data consistency -> the engine's
samplers, started from the noised zero-filled image) reproduces it; they caught the quick harness's
diffusion running ~6 dB below zero-filled, which came from starting at sigma_max = 10 (2.7 std out of
the prior's training noise range) with 6 stochastic steps and a single posterior sample.
"""

import math

import numpy as np
import torch

from diffsci.config import load_config
from diffsci.data.synthetic import FourierGaussianDenoiser
from diffsci.diffusion import karras_sigmas
from diffsci.guidance.data_consistency import DataConsistencyDenoiser
from diffsci_mri.forward import single_coil
from diffsci_mri.harness.prior import quick_config
from diffsci_mri.harness.reconstruction import DEFAULT_CONFIG, DEFAULT_SIGMA_START, _diffusion
from diffsci_mri.kspace import cartesian_mask, fft2c, ifft2c

H, W = 24, 32


def _prior(dtype=torch.float64):
    """A disc-shaped mean image and a power-law spectrum (symmetric under k -> -k), as a Fourier Gaussian."""
    g = torch.meshgrid(torch.linspace(-1, 1, H, dtype=dtype), torch.linspace(-1, 1, W, dtype=dtype), indexing="ij")
    mean = 0.6 * ((g[0] ** 2 + g[1] ** 2) < 0.5).to(dtype)[None]
    f = torch.meshgrid(torch.fft.fftfreq(H, dtype=dtype), torch.fft.fftfreq(W, dtype=dtype), indexing="ij")
    lam = 0.3 * (f[0] ** 2 + f[1] ** 2 + 0.01) ** -1.0
    lam = lam / lam.mean() * 0.04                            # pixel variance 0.04
    den = FourierGaussianDenoiser(mean, lam)
    den.sigma_data = 0.3
    return den


def _closed_form_posterior_mean(x: torch.Tensor, mean: torch.Tensor, mask: np.ndarray) -> torch.Tensor:
    """Sampled columns and their mirrors (centred index j <-> (W - j) mod W) from x, the rest from the mean."""
    m = torch.as_tensor(mask)
    mirror = m[(W - torch.arange(W)) % W]
    known = (m | mirror)[None, None, None, :]
    return ifft2c(torch.where(known, fft2c(x.to(torch.complex128)), fft2c(mean.to(torch.complex128)))).real


def test_dc_at_large_sigma_is_the_gaussian_posterior_mean():
    """D'(x, sigma -> inf) = mu + A^+(y - A mu): the exact posterior mean, mirror columns included."""
    den = _prior()
    gen = torch.Generator().manual_seed(0)
    x = den.sample(3, generator=gen)
    mask = cartesian_mask("random", W, 4, 0.08, seed=3)
    assert not np.array_equal(mask, mask[(W - np.arange(W)) % W])     # not mirror-symmetric: the test bites
    A = single_coil(mask)
    y = A(x)
    post = DataConsistencyDenoiser(den, A, y, 0.3)(torch.zeros_like(x), torch.tensor(1e7, dtype=torch.float64))
    want = _closed_form_posterior_mean(x, den.mean, mask)
    assert torch.allclose(post, want, atol=1e-6)
    assert torch.allclose(A(post), y, atol=1e-8)                        # hard data consistency
    zf = ifft2c(y).abs()
    assert float((post - x).square().mean()) < 0.8 * float((zf - x).square().mean())


def test_harness_diffusion_path_beats_zero_filled_with_the_oracle_prior():
    """The harness's _diffusion ('dc', zero-filled start at DEFAULT_SIGMA_START, mean of shots) with the exact
    prior lands near the closed-form posterior mean and below the zero-filled error, at 4x and 8x."""
    den = _prior(torch.float32)
    gen = torch.Generator().manual_seed(1)
    x = den.sample(6, generator=gen)
    sig = karras_sigmas(10, 0.002, DEFAULT_SIGMA_START, dtype=torch.float32)
    for R, cf in ((4, 0.08), (8, 0.04)):
        mask = cartesian_mask("random", W, R, cf, seed=R)
        A = single_coil(mask)
        y = A(x)
        zf = A.pinv(y)                       # zero-filled (real part: the images here take both signs)
        est, std = _diffusion("dc", den, A, y, x.shape, sig, gen, dps_step=1.0, shots=4, init=zf,
                              sampler="euler")
        post = _closed_form_posterior_mean(x.double(), den.mean.double(), mask).float()
        mse = lambda a: float((a - x).square().mean())  # noqa: E731
        # the mean of K exact posterior samples has MSE (1 + 1/K) MMSE = 1.25 MMSE for K = 4 (10 Euler steps add a little)
        assert mse(est) < 1.6 * mse(post), (R, mse(est), mse(post))
        assert mse(est) < 0.92 * mse(zf), (R, mse(est), mse(zf))
        assert torch.allclose(A(est), y, atol=1e-4)                         # every sample is consistent
        assert std.shape == x.shape and float(std.mean()) > 0


def test_sigma_start_lies_in_the_prior_training_noise_range():
    """The diffusion start must be a noise level the prior was trained on (ln sigma ~ N(P_mean, P_std^2)):
    within 2 std, for the full and the --quick prior."""
    base = load_config(DEFAULT_CONFIG)
    for cfg in (base, quick_config(base)):
        z = (math.log(DEFAULT_SIGMA_START) - cfg.diffusion.P_mean) / cfg.diffusion.P_std
        assert abs(z) < 2, z
    # the old start sigma_max = 10 did not
    assert (math.log(base.sampling.sigma_max) - base.diffusion.P_mean) / base.diffusion.P_std > 2.5
