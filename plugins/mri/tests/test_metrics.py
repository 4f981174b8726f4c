"""fastMRI's NMSE, PSNR and SSIM against values computed by hand from their definitions."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from diffsci_mri import domain
from diffsci_mri.metrics import nmse, psnr, slice_metrics, ssim


def _ssim_by_hand(x, y, data_range, win=7):
    """Wang et al. (2004) SSIM with a win x win uniform window, sample covariances, K1=0.01, K2=0.03,
    averaged over the valid region (the border of (win - 1) / 2 pixels excluded): skimage's defaults."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    n = win * win
    cov = n / (n - 1)
    ux, uy = uniform_filter(x, win), uniform_filter(y, win)
    vx = cov * (uniform_filter(x * x, win) - ux * ux)
    vy = cov * (uniform_filter(y * y, win) - uy * uy)
    vxy = cov * (uniform_filter(x * y, win) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    p = (win - 1) // 2
    return s[p:-p, p:-p].mean()


def test_nmse_and_psnr_closed_forms():
    gt = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    pred = gt + np.array([[[0.1, -0.1], [0.0, 0.2]]])
    assert nmse(gt, pred) == pytest.approx(0.06 / 30.0)
    mse = 0.06 / 4
    assert psnr(gt, pred) == pytest.approx(10 * np.log10(4.0 ** 2 / mse))
    assert psnr(gt, pred, maxval=8.0) == pytest.approx(10 * np.log10(64.0 / mse))


def test_ssim_is_7x7_uniform_window_with_volume_max():
    rng = np.random.default_rng(0)
    gt = rng.random((2, 24, 20))
    pred = gt + 0.1 * rng.normal(size=gt.shape)
    maxval = gt.max()
    expect = np.mean([_ssim_by_hand(g, p, maxval) for g, p in zip(gt, pred)])
    assert ssim(gt, pred) == pytest.approx(expect, rel=1e-10)
    # a 5x5 window would give another value: the window size matters and is 7
    other = np.mean([_ssim_by_hand(g, p, maxval, win=5) for g, p in zip(gt, pred)])
    assert abs(ssim(gt, pred) - other) > 1e-4            # far above the 1e-10 agreement
    assert ssim(gt, gt) == pytest.approx(1.0)


def test_slice_metrics_use_the_volume_range():
    rng = np.random.default_rng(1)
    gt = rng.random((3, 16, 16)) * np.array([1.0, 0.5, 0.2])[:, None, None]   # dark slices
    pred = gt + 0.01
    m = slice_metrics(gt, pred, maxval=gt.max())
    # PSNR of every slice with the volume's maximum: 10 log10(max^2 / 1e-4), the same for all slices
    np.testing.assert_allclose(m["psnr"], 10 * np.log10(gt.max() ** 2 / 1e-4))
    assert m["nmse"].shape == (3,) and m["nmse"][2] > m["nmse"][0]


def test_metric_errors_and_domain_order():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(np.ones((2, 4, 4)), np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="expected \\(slices, H, W\\)"):
        ssim(np.ones((1, 1, 4, 4)), np.ones((1, 1, 4, 4)))
    gt, est = np.ones((8, 8)), np.full((8, 8), 0.9)
    assert domain.metrics["nmse"](est, gt) == pytest.approx(nmse(gt, est))
