"""The contract every linear operator keeps: <Ax, y> = <x, A^H y>, in 1D, 2D and 3D, real and complex."""

from __future__ import annotations

import pytest
import torch

from diffsci.operators import OPERATORS, LinearOperator, inner

from .builders import build

CASES = [(n, d, c) for n in OPERATORS for d in (1, 2, 3) for c in (False, True)]


def test_every_registered_operator_has_a_builder():
    for name in OPERATORS:
        op, _, _ = build(name, 2, False)
        assert isinstance(op, OPERATORS[name])


@pytest.mark.parametrize("name,dims,complex_", CASES)
def test_adjointness(name, dims, complex_):
    op, x, y = build(name, dims, complex_, seed=dims)
    Ax, AHy = op(x), op.adjoint(y)
    assert Ax.shape == y.shape and AHy.shape == x.shape
    assert AHy.is_complex() == x.is_complex()            # adjoint of a real-input operator is real
    real = op.input_kind == "real" or not x.is_complex()
    lhs, rhs = inner(Ax, y, real=real).sum(), inner(x, AHy, real=real).sum()
    assert abs(complex(lhs - rhs)) < 1e-10 * abs(complex(lhs)) + 1e-12
    assert op.adjointness_gap(x, y) < 1e-12


@pytest.mark.parametrize("name,dims,complex_", CASES)
def test_pinv_matches_conjugate_gradients(name, dims, complex_):
    """The closed-form (A^H A + rho I)^{-1} A^H y agrees with CG on the normal equations, rho = 0.3 and 0."""
    op, x, y = build(name, dims, complex_, seed=10 + dims)
    op.cg_iters, op.cg_tol = 200, 1e-13
    if type(op).pinv is LinearOperator.pinv:             # no closed form: CG itself, checked below
        rhos = (0.3,)
    else:
        rhos = (0.3, 0.0)
    for rho in rhos:
        got = op.pinv(y, rho)
        if len(rhos) > 1:
            ref = LinearOperator.pinv(op, y, rho)
            assert torch.allclose(got, ref, atol=1e-7), (rho, (got - ref).abs().max())
        # normal equations: (A^H A + rho) z = A^H y
        if rho > 0:
            assert torch.allclose(op.normal(got) + rho * got, op.adjoint(y), atol=1e-8)


@pytest.mark.parametrize("name,dims,complex_", [c for c in CASES if OPERATORS[c[0]].has_projection
                                                 or c[0] == "complex_view"])
def test_projection_is_orthogonal_onto_the_measured_set(name, dims, complex_):
    op, x, _ = build(name, dims, complex_, seed=20 + dims)
    assert op.has_projection
    _, x_true, _ = build(name, dims, complex_, seed=30 + dims)
    y = op(x_true)                                       # a consistent measurement
    p = op.project(x, y)
    assert torch.allclose(op(p), y, atol=1e-10)          # A P(x) = y
    assert torch.allclose(op.project(p, y), p, atol=1e-10)   # idempotent
    z = op.project(torch.randn_like(x) if not x.is_complex() else x * 1j + 3, y)
    # orthogonality: <x - P(x), z - P(x)> = 0 for every z in the measured set
    assert abs(float(inner(x - p, z - p, real=True).sum())) < 1e-9 * float((x - p).abs().pow(2).sum() + 1)


def test_composition_adjoint_and_shapes():
    from diffsci.operators import Downsample, Mask
    g = torch.Generator().manual_seed(0)
    A = Mask((torch.rand(4, 3, generator=g) < 0.5).double()) @ Downsample((2, 2))
    x = torch.randn(2, 1, 8, 6, generator=g, dtype=torch.float64)
    y = torch.randn(2, 1, 4, 3, generator=g, dtype=torch.float64)
    assert isinstance(A, LinearOperator) and A.measurement_shape(x.shape) == (2, 1, 4, 3)
    assert A.input_shape(y.shape) == (2, 1, 8, 6)
    assert A.adjointness_gap(x, y) < 1e-12
    assert not A.has_projection
    with pytest.raises(ValueError, match="no exact projection"):
        A.project(x, y)
