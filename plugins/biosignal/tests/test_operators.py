"""The baseline-nullspace operator: a self-adjoint projection whose null space is the low frequencies."""

import numpy as np
import torch

from diffsci_biosignal.operators import OPERATORS, BaselineNullspace, dct_lowpass_basis


def test_projection_properties():
    A = BaselineNullspace(512, 360.0, 0.7, sigma_y=0.01)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 1, 512, generator=g, dtype=torch.float64)
    y = torch.randn(3, 1, 512, generator=g, dtype=torch.float64)
    torch.testing.assert_close(A(A(x)), A(x))                                         # A^2 = A
    assert abs(float((A(x) * y).sum() - (x * A.adjoint(y)).sum())) < 1e-9              # <Ax, y> = <x, A^T y>
    torch.testing.assert_close(A.pinv(y, 0.5), A(y) / 1.5)


def test_low_frequencies_are_in_the_null_space():
    fs, n = 360.0, 512
    t = torch.arange(n, dtype=torch.float64) / fs
    A = BaselineNullspace(n, fs, 1.0)
    k = len(A.U)
    drift = torch.as_tensor(dct_lowpass_basis(n, fs, 1.0).T @ np.arange(1, k + 1, dtype=np.float64))
    assert float(A(drift[None, None]).abs().max()) < 1e-10
    beat = torch.sin(2 * torch.pi * 10 * t) * torch.hann_window(n, periodic=False, dtype=torch.float64)
    assert float((A(beat[None, None]) - beat).norm() / beat.norm()) < 0.01


def test_factories():
    assert OPERATORS["denoise"](0.1).sigma_y == 0.1
    m = OPERATORS["gaps"](10, [(2, 5)])
    assert m(torch.ones(1, 1, 10)).sum() == 7
