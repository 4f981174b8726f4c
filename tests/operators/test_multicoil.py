"""MultiCoilFourier: SENSE model; normalised coils fully sampled give A^H A = I."""

from __future__ import annotations

import pytest
import torch

from diffsci.operators import MultiCoilFourier, SubsampledFourier


def _sens(k, shape, g):
    s = torch.complex(*torch.randn(2, k, *shape, generator=g, dtype=torch.float64))
    return s / s.abs().pow(2).sum(0, keepdim=True).sqrt()                 # sum_c |S_c|^2 = 1


def test_normalised_coils_fully_sampled_are_an_isometry():
    g = torch.Generator().manual_seed(0)
    op = MultiCoilFourier(_sens(4, (6, 5), g), complex_input=True)
    x = torch.complex(*torch.randn(2, 3, 2, 6, 5, generator=g, dtype=torch.float64))
    y = op(x)
    assert y.shape == (3, 2, 4, 6, 5) and op.input_shape(y.shape) == x.shape
    assert torch.allclose(op.adjoint(y), x)                                 # A^H A = sum |S|^2 = I


def test_one_unit_coil_equals_single_coil_fourier():
    g = torch.Generator().manual_seed(1)
    mask = (torch.rand(8, generator=g) < 0.5).double()
    mc = MultiCoilFourier(torch.ones(1, 8, dtype=torch.complex128), mask, centered=True)
    sc = SubsampledFourier(mask, centered=True)
    x = torch.randn(2, 1, 8, generator=g, dtype=torch.float64)
    assert torch.allclose(mc(x)[:, :, 0], sc(x))
    y = sc(torch.randn(2, 1, 8, generator=g, dtype=torch.float64))
    mc.cg_iters = 50
    assert torch.allclose(mc.pinv(y[:, :, None], 0.0), sc.pinv(y), atol=1e-8)   # CG reaches the closed form


def test_coil_shape_mismatch_is_an_error():
    op = MultiCoilFourier(torch.ones(2, 4, 4, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"input of shape \(1, 1, 4, 5\) does not match coil maps"):
        op(torch.zeros(1, 1, 4, 5))
    assert not op.has_projection
    with pytest.raises(ValueError, match="no exact projection"):
        op.project(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 2, 4, 4, dtype=torch.complex64))
