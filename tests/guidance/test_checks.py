"""Bad problems fail early with messages that name the shapes and say what to do."""

from __future__ import annotations

import pytest
import torch

from diffsci.diffusion import GaussianDenoiser, karras_sigmas
from diffsci.guidance import METHODS, data_consistency, pigdm
from diffsci.operators import ComplexView, Downsample, Mask, SubsampledFourier

PRIOR = GaussianDenoiser(torch.zeros(1, 4, 4, dtype=torch.float64), var=1.0)
X = torch.zeros(2, 1, 4, 4, dtype=torch.float64)
SIG = karras_sigmas(2)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_measurement_shape_mismatch_names_both_shapes(method):
    op = Downsample((2, 2))
    extra = {"sigma_data": 1.0} if method in ("dc", "pigdm") else {}
    with pytest.raises(ValueError, match=r"shape \(2, 1, 4, 4\).*\(2, 1, 2, 2\)"):
        METHODS[method](PRIOR, X, SIG, operator=op, measurement=torch.zeros(2, 1, 4, 4), **extra)


def test_complex_measurement_for_a_real_model():
    with pytest.raises(ValueError, match="complex data cannot be given to a real model"):
        data_consistency(PRIOR, X, SIG, operator=Mask(torch.ones(4, 4)),
                         measurement=torch.zeros(2, 1, 4, 4, dtype=torch.complex128))


def test_complex_image_operator_for_a_real_model_points_to_complex_view():
    op = SubsampledFourier(torch.ones(4, 4), complex_input=True)
    with pytest.raises(ValueError, match="ComplexView"):
        data_consistency(PRIOR, X, SIG, operator=op, measurement=torch.zeros(2, 1, 4, 4, dtype=torch.complex128))


def test_real_measurement_for_a_fourier_operator():
    with pytest.raises(ValueError, match="makes complex measurements"):
        pigdm(PRIOR, X, SIG, operator=SubsampledFourier(torch.ones(4, 4)), measurement=torch.zeros(2, 1, 4, 4),
              sigma_data=1.0)


def test_complex_view_model_runs_end_to_end():
    """A (re, im) 2-channel prior reconstructs a complex image from fully sampled noiseless k-space."""
    g = torch.Generator().manual_seed(0)
    prior = GaussianDenoiser(torch.zeros(2, 4, 4, dtype=torch.float64), var=1.0)
    op = ComplexView(SubsampledFourier(torch.ones(4, 4), complex_input=True))
    x_true = prior.sample(1, generator=g)
    out = data_consistency(prior, torch.randn(1, 2, 4, 4, generator=g, dtype=torch.float64) * 80,
                           karras_sigmas(4), operator=op, measurement=op(x_true), sampler="heun")
    assert torch.allclose(out, x_true, atol=1e-10)
