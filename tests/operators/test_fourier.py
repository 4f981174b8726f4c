"""SubsampledFourier: orthonormal FFT, centred layout, exact real-domain pseudo-inverse."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diffsci.guidance.gaussian_posterior import operator_matrix
from diffsci.operators import SubsampledFourier


@pytest.mark.parametrize("centered", [False, True])
def test_matches_numpy_fft_in_both_layouts(centered):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 1, 5, 6, generator=g, dtype=torch.float64)
    mask = (torch.rand(5, 6, generator=g) < 0.5).double()
    y = SubsampledFourier(mask, centered=centered)(x).numpy()[0, 0]
    xn = x.numpy()[0, 0]
    if centered:
        ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(xn), norm="ortho"))
    else:
        ref = np.fft.fft2(xn, norm="ortho")
    assert np.allclose(y, mask.numpy() * ref)


def test_fully_sampled_is_unitary():
    g = torch.Generator().manual_seed(1)
    x = torch.complex(*torch.randn(2, 2, 3, 4, 4, 2, generator=g, dtype=torch.float64))
    op = SubsampledFourier(torch.ones(4, 4, 2), complex_input=True)
    assert torch.allclose(op(x).abs().pow(2).sum(), x.abs().pow(2).sum())
    assert torch.allclose(op.adjoint(op(x)), x)


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("shape", [(7,), (4, 5)])
def test_real_domain_pinv_equals_dense_moore_penrose(shape, centered):
    """Re(F^H g) with the Hermitian-pair weights is exactly (A^T A + rho)^{-1} A^T on R^n -> R^{2m}."""
    g = torch.Generator().manual_seed(2)
    mask = (torch.rand(shape, generator=g) < 0.5).double()
    op = SubsampledFourier(mask, centered=centered)
    A = operator_matrix(op, (1, *shape), dtype=torch.float64)           # (2m, n) real
    y = torch.complex(*torch.randn(2, 1, 1, *shape, generator=g, dtype=torch.float64)) * mask
    y_real = torch.cat([y.real.reshape(-1), y.imag.reshape(-1)])
    for rho in (0.0, 0.7):
        if rho == 0:
            ref = torch.linalg.pinv(A) @ y_real
        else:
            ref = torch.linalg.solve(A.T @ A + rho * torch.eye(A.shape[1], dtype=A.dtype), A.T @ y_real)
        assert torch.allclose(op.pinv(y, rho).reshape(-1), ref, atol=1e-10)


def test_mask_shape_must_fit():
    with pytest.raises(ValueError, match=r"mask of shape \(4, 4\) does not fit an input of shape \(1, 1, 4, 5\)"):
        SubsampledFourier(torch.ones(4, 4))(torch.zeros(1, 1, 4, 5))
