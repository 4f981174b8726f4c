"""Operator base: conjugate gradients, simulated noise statistics, input/measurement checks."""

from __future__ import annotations

import pytest
import torch

from diffsci.operators import Identity, Mask, SubsampledFourier, conjugate_gradient, inner


def test_conjugate_gradient_solves_batched_spd_systems():
    g = torch.Generator().manual_seed(0)
    M = torch.randn(3, 6, 6, generator=g, dtype=torch.float64)
    S = M @ M.transpose(1, 2) + 0.5 * torch.eye(6, dtype=torch.float64)     # (3, 6, 6) SPD
    b = torch.randn(3, 6, generator=g, dtype=torch.float64)
    z = conjugate_gradient(lambda v: (S @ v[..., None])[..., 0], b, iters=50, tol=1e-14)
    assert torch.allclose(z, torch.linalg.solve(S, b), atol=1e-9)


def test_conjugate_gradient_singular_consistent_gives_minimum_norm():
    A = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)                 # A^T A singular
    b = (A.T @ torch.tensor([2.0], dtype=torch.float64))[None]             # in the range of A^T A
    z = conjugate_gradient(lambda v: v @ A.T @ A, b, iters=10, tol=1e-14)
    assert torch.allclose(z, torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64))


def test_inner_is_conjugate_linear_in_the_first_argument():
    a = torch.tensor([[1 + 2j]], dtype=torch.complex128)
    b = torch.tensor([[3 - 1j]], dtype=torch.complex128)
    assert complex(inner(a, b)[0]) == pytest.approx((1 - 2j) * (3 - 1j))
    assert float(inner(a, b, real=True)[0]) == pytest.approx(((1 - 2j) * (3 - 1j)).real)


@pytest.mark.parametrize("complex_output", [False, True])
def test_measure_adds_noise_of_std_sigma_y_per_real_component(complex_output):
    g = torch.Generator().manual_seed(1)
    x = torch.zeros(4000, 1, 8, dtype=torch.float64)
    op = SubsampledFourier(torch.ones(8), sigma_y=0.3) if complex_output else Identity(sigma_y=0.3)
    n = op.measure(x, generator=g)
    assert n.is_complex() == complex_output
    parts = [n.real, n.imag] if complex_output else [n]
    for p in parts:   # std of 32000 normals: standard error 0.3/sqrt(64000) ~ 0.0012
        assert abs(float(p.std()) - 0.3) < 0.005 and abs(float(p.mean())) < 0.005


def test_noise_level_must_be_valid():
    with pytest.raises(ValueError, match="sigma_y"):
        Identity(sigma_y=-1)


def test_measurement_shape_mismatch_names_both_shapes():
    op = Mask(torch.ones(4, 4))
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 5\).*\(1, 1, 4, 4\)"):
        op.check_measurement(torch.zeros(1, 1, 4, 5), (1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"does not fit an input of shape \(1, 1, 3, 4\)"):
        op.measurement_shape((1, 1, 3, 4))


def test_complex_data_for_a_real_model_is_an_error():
    op = Mask(torch.ones(4))
    with pytest.raises(ValueError, match="complex data cannot be given to a real model"):
        op.check_measurement(torch.zeros(1, 1, 4, dtype=torch.complex64), (1, 1, 4))
    f = SubsampledFourier(torch.ones(4))
    with pytest.raises(ValueError, match="real .* makes complex measurements"):
        f.check_measurement(torch.zeros(1, 1, 4), (1, 1, 4))
    with pytest.raises(ValueError, match="real input domain"):
        f.check_input(torch.zeros(1, 1, 4, dtype=torch.complex64))
    with pytest.raises(ValueError, match="ComplexView"):
        SubsampledFourier(torch.ones(4), complex_input=True).check_input(torch.zeros(1, 1, 4))


@pytest.mark.parametrize("centered", [False, True])
def test_simulated_noise_only_where_measured(centered):
    g = torch.Generator().manual_seed(2)
    m = (torch.rand(6, 5, generator=g) < 0.5).double()
    x = torch.randn(3, 1, 6, 5, generator=g, dtype=torch.float64)
    for op in (Mask(m, sigma_y=0.5), SubsampledFourier(m, sigma_y=0.5, centered=centered)):
        y = op.measure(x, generator=g)
        assert torch.equal(y * (1 - m), torch.zeros_like(y))          # unmeasured entries stay exactly 0
        assert float((y - op(x)).abs().max()) > 0.1                    # measured ones are noisy
