"""Calibration: conformal p-values control the false-positive rate; percentiles and thresholds by hand."""

import math

import numpy as np
import pytest

from diffsci.anomaly import Calibrator


def test_hand_computed_values_with_ties():
    c = Calibrator([3.0, 1.0, 2.0, 2.0])
    np.testing.assert_allclose(c.p_value([0.0, 2.0, 2.5, 9.0]), [5 / 5, 4 / 5, 2 / 5, 1 / 5])
    np.testing.assert_allclose(c.percentile([0.0, 2.0, 2.5, 9.0]), [0.0, 50.0, 75.0, 100.0])
    assert c.n == 4


def test_p_values_are_super_uniform_on_normal_data():
    """Scores exchangeable with the reference: P(p <= alpha) <= alpha (and close to it)."""
    rng = np.random.default_rng(0)
    c = Calibrator(rng.standard_normal(199))
    p = c.p_value(rng.standard_normal(20000))
    for alpha in (0.05, 0.1, 0.25):
        rate = (p <= alpha).mean()
        assert rate <= alpha + 3 * math.sqrt(alpha / 20000) + 0.02       # conditional on one reference set
        assert rate > alpha - 0.05
    assert p.min() >= 1 / 200 and p.max() <= 1


def test_threshold_is_the_smallest_score_with_p_below_alpha():
    rng = np.random.default_rng(1)
    c = Calibrator(rng.standard_normal(99))
    for alpha in (0.01, 0.05, 0.2):
        t = c.threshold(alpha)
        assert c.p_value([t])[0] <= alpha
        assert c.p_value([np.nextafter(t, -np.inf)])[0] > alpha
    assert Calibrator([1.0, 2.0]).threshold(0.1) == math.inf          # 3 points cannot certify 10 %
    back = Calibrator.from_state_dict(c.state_dict())
    np.testing.assert_array_equal(back.reference, c.reference)


def test_bad_reference():
    with pytest.raises(ValueError, match="empty"):
        Calibrator([])
    with pytest.raises(ValueError, match="non-finite"):
        Calibrator([1.0, float("nan")])
    with pytest.raises(ValueError, match="alpha"):
        Calibrator([1.0]).threshold(1.5)
