"""Compressed sensing by PDHG: exact adjoints of the sparsifying transforms, convergence, recovery."""

import numpy as np
import pytest
import torch

from diffsci_mri.baselines.cs import cs_objective, cs_reconstruct, make_sparsity, tune_lambda
from diffsci_mri.baselines.sparsity import FiniteDifference, Wavelet, l1_norm
from diffsci_mri.forward import single_coil
from diffsci_mri.kspace import random_mask_1d
from diffsci_mri.metrics import psnr
from diffsci_mri.phantom import shepp_logan


@pytest.mark.parametrize("Psi", [FiniteDifference(), Wavelet("db2", 2)], ids=["tv", "wavelet"])
def test_sparsifying_transforms_have_exact_adjoints(Psi):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 20, 12, generator=g, dtype=torch.float64)
    p = torch.randn(Psi.forward(x).shape, generator=g, dtype=torch.float64)
    lhs = (Psi.forward(x) * p).sum()
    rhs = (x * Psi.adjoint(p)).sum()
    assert abs(float(lhs - rhs)) < 1e-10 * float(x.norm() * p.norm())


def test_wavelet_is_an_isometry_and_tv_norm_bound():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, 1, 20, 12, generator=g, dtype=torch.float64)       # padded to 24 x 16 inside
    W = Wavelet("db2", 2)
    assert abs(float(W.forward(x).norm() - x.norm())) < 1e-9 * float(x.norm())
    torch.testing.assert_close(W.adjoint(W.forward(x)), x)
    # ||grad||^2 <= 8: the power iteration of grad^T grad stays below the bound
    D, v = FiniteDifference(), torch.randn(1, 1, 16, 16, generator=g, dtype=torch.float64)
    for _ in range(60):
        v = D.adjoint(D.forward(v))
        v = v / v.norm()
    assert float((D.adjoint(D.forward(v)) * v).sum()) <= 8.0
    # isotropic TV of a vertical step of height 1 across 16 rows: 16
    step = torch.zeros(1, 1, 16, 16, dtype=torch.float64)
    step[..., 8:] = 1.0
    assert float(l1_norm(D.forward(step), D.group_dims)) == 16.0


def _problem(size=64, accel=4):
    gt = torch.from_numpy(shepp_logan(size))[None, None].double()
    A = single_coil(random_mask_1d(size, accel, 0.08, seed=0))
    return gt, A, A(gt)


def test_pdhg_objective_decreases_and_converges():
    gt, A, y = _problem()
    res = cs_reconstruct(A, y, 2e-3, iters=400, record_every=50, sparsity="tv")
    hist = torch.stack(res.history)[:, 0].numpy()
    x0 = A.adjoint(y).clamp_min(0)
    start = float(cs_objective(A, make_sparsity("tv"), x0, y, 2e-3)[0])
    assert hist[-1] < 0.5 * start                                   # far below the zero-filled start
    assert np.all(np.diff(hist[2:]) <= 1e-6 * hist[0])              # monotone once in the basin
    ref = cs_reconstruct(A, y, 2e-3, iters=1500, sparsity="tv")     # a much longer run
    assert abs(hist[-1] - float(ref.objective[0])) < 1e-3 * float(ref.objective[0])


def test_tv_recovers_piecewise_constant_phantom_at_4x():
    gt, A, y = _problem()
    zf = A.adjoint(y).abs()
    x = cs_reconstruct(A, y, 1e-3, iters=400).x
    p_zf = psnr(gt[0].numpy(), zf[0].numpy())
    p_cs = psnr(gt[0].numpy(), x[0].numpy())
    assert p_cs > 30.0 and p_cs > p_zf + 8.0
    assert float(x.min()) >= 0.0                                    # the non-negativity constraint


def test_per_slice_lambda_and_complex_constraint():
    gt, A, y = _problem(32)
    y2 = torch.cat([y, y])
    res = cs_reconstruct(A, y2, torch.tensor([1e-4, 1e-1]), iters=200)
    tv = l1_norm(FiniteDifference().forward(res.x), (2,))
    assert tv[1] < 0.5 * tv[0]                                      # the larger lambda gives a flatter image
    Ac = single_coil(random_mask_1d(32, 4, 0.08, seed=0), complex_input=True)
    yc = Ac(gt.to(torch.complex128))
    xc = cs_reconstruct(Ac, yc, 1e-3, constraint="complex", iters=300).x
    zf = Ac.adjoint(yc).abs()
    assert xc.is_complex() and psnr(gt[0].numpy(), xc.abs()[0].numpy()) > psnr(gt[0].numpy(), zf[0].numpy()) + 2


def test_tune_lambda_picks_the_best_on_the_grid():
    best, scores = tune_lambda(lambda lam: torch.tensor([lam]), torch.tensor([0.01]),
                               lambda est, ref: -float((est - ref).abs()), [0.001, 0.01, 0.1])
    assert best == 0.01 and set(scores) == {0.001, 0.01, 0.1}


def test_unknown_sparsity_is_an_error():
    with pytest.raises(ValueError, match="unknown sparsity 'l0'"):
        make_sparsity("l0")
    with pytest.raises(ValueError, match="not orthogonal"):
        Wavelet("bior2.2")
