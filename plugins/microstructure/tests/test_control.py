"""Calibrated porosity control against a stand-in model whose response to its condition is known."""

import numpy as np
import pytest

from diffsci_microstructure.control import PorosityCalibration, calibrate_porosity

TARGETS = np.array([0.12, 0.16, 0.20, 0.24, 0.28])


def _model(true: PorosityCalibration, n: int = 6, spread: float = 0.01, seed: int = 0):
    """sample(c, j): n porosities scattered around the model's mean response true.predict(c)."""
    def sample(c, j):
        rng = np.random.default_rng(seed + j)
        return true.predict(c) + spread * rng.standard_normal(n)
    return sample


def test_fit_recovers_the_response_and_inverts_it():
    true = PorosityCalibration(intercept=0.35, slope=0.7)       # the Berea prior's shape: 0.12 -> ~0.16
    cal = calibrate_porosity(_model(true, n=400, spread=0.01))
    assert cal.slope == pytest.approx(0.7, abs=0.03) and cal.intercept == pytest.approx(0.35, abs=0.05)
    np.testing.assert_allclose(cal.predict(cal.condition_for(TARGETS)), TARGETS, rtol=1e-12)
    np.testing.assert_allclose(true.predict(cal.condition_for(TARGETS)), TARGETS, atol=0.003)


def test_calibration_removes_the_bias_of_a_miscalibrated_model():
    true = PorosityCalibration(intercept=0.35, slope=0.7)
    plain = np.abs(true.predict(TARGETS) - TARGETS).mean()        # asking for the target itself
    cal = calibrate_porosity(_model(true, n=6, spread=0.01, seed=1))
    fixed = np.abs(true.predict(cal.condition_for(TARGETS)) - TARGETS).mean()
    assert plain > 0.02 and fixed < 0.005                          # the control target, on the mean
    # a model that already does what it is asked keeps doing it
    ident = calibrate_porosity(_model(PorosityCalibration(0.0, 1.0), n=6, spread=0.005, seed=2))
    np.testing.assert_allclose(ident.condition_for(TARGETS), TARGETS, atol=0.006)


def test_bad_responses_are_named():
    with pytest.raises(ValueError, match="does not follow its condition"):
        PorosityCalibration.fit([0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match=r"slope 0.02.* <= 0.1"):                # an untrained prior
        PorosityCalibration.fit([0.1, 0.2, 0.3], PorosityCalibration(-0.8, 0.02).predict([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)"):
        PorosityCalibration.fit([0.1, 0.2], [0.0, 0.2])
    with pytest.raises(ValueError, match=">= 2 conditions"):
        PorosityCalibration.fit([0.1], [0.2])
