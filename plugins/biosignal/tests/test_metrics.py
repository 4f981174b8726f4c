"""Denoising metrics against hand-computed values, with the DeepFilter / DeScoD-ECG definitions."""

import numpy as np
import pytest

from diffsci_biosignal.metrics import cos_sim, mad, prd, snr, snr_improvement, ssd

Y = np.array([[1.0, -1.0, 2.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
YH = np.array([[1.0, 0.0, 2.0, 1.0], [0.0, 1.0, 0.0, 1.0]])


def test_ssd_and_mad_by_hand():
    assert ssd(YH, Y).tolist() == [2.0, 0.0]                 # (0 + 1 + 0 + 1), perfect
    assert mad(YH, Y).tolist() == [1.0, 0.0]


def test_prd_uses_the_global_reference_mean_and_the_estimate_in_the_denominator():
    # mean(Y) over the whole array = (2 + 2) / 8 = 0.5
    # beat 0: N = 2, D = sum (YH0 - 0.5)^2 = 0.25 + 0.25 + 2.25 + 0.25 = 3  -> 100 sqrt(2/3)
    assert prd(YH, Y)[0] == pytest.approx(100 * np.sqrt(2 / 3))
    assert prd(YH, Y)[1] == 0.0
    # with an explicit mean of 0 (per-beat textbook form on centred data): D = 1 + 0 + 4 + 1 = 6
    assert prd(YH, Y, ref_mean=0.0)[0] == pytest.approx(100 * np.sqrt(2 / 6))


def test_cosine_similarity_by_hand():
    # <Y0, YH0> = 1 + 0 + 4 + 0 = 5; |Y0| = sqrt(6), |YH0| = sqrt(6)
    assert cos_sim(YH, Y)[0] == pytest.approx(5 / 6)
    assert cos_sim(YH, Y)[1] == pytest.approx(1.0)
    with np.errstate(all="raise"):                          # a zero estimate: 0, no 0/0
        assert cos_sim(np.zeros((1, 4)), Y[:1]).tolist() == [0.0]


def test_snr_and_improvement():
    y = np.array([[3.0, 4.0]])                              # sum y^2 = 25
    noisy = y + np.array([[1.0, 0.0]])                      # error energy 1  -> 10 log10 25
    out = y + np.array([[0.1, 0.0]])                        # error energy 0.01 -> 10 log10 2500
    assert snr(noisy, y)[0] == pytest.approx(10 * np.log10(25))
    assert snr_improvement(out, noisy, y)[0] == pytest.approx(20.0)


def test_three_dimensional_inputs_and_shape_errors():
    y3 = Y[:, None]
    assert ssd(YH[:, None], y3).tolist() == [2.0, 0.0]
    with pytest.raises(ValueError, match="shape"):
        ssd(YH[:, :3], Y)
