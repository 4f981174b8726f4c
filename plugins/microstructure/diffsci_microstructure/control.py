"""Calibrated porosity control: which condition to ask for so that the samples hit a target porosity.

A porosity-conditioned prior trained briefly responds to its condition monotonically but not one-to-one
(Berea, 2000 steps, guidance 1, docs/benchmarks.md: asked for 0.12 it gave 0.157 and 0.137 in two
trainings; asked for 0.28, 0.267 and 0.275). The calibration
measures that response on the model's own samples (no data) at a few condition values c_i, fits

    logit(mean achieved porosity) = a + b logit(c)                                   (least squares)

and asks for c(t) = sigmoid((logit(t) - a) / b) to reach a target t. The straight line in logit-logit
space is a choice for few noisy points: it is monotone, extrapolates, and is exact for a model that
scales the odds of a pore by a constant power (b) and factor (e^a). Samples used for the fit are drawn
with other seeds than the ones it is judged on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import porosity_to_scalar, scalar_to_porosity

__all__ = ["PorosityCalibration", "calibrate_porosity", "MIN_SLOPE"]

#: below this response slope the model is taken to ignore its condition (an untrained prior): the inverse
#: would multiply the sampling noise of the fit by more than 10 and ask for conditions far outside training
MIN_SLOPE = 0.1


@dataclass(frozen=True)
class PorosityCalibration:
    """logit(achieved) = intercept + slope * logit(condition); ``condition_for`` inverts it."""

    intercept: float
    slope: float
    conditions: tuple[float, ...] = ()
    achieved: tuple[float, ...] = ()

    @classmethod
    def fit(cls, conditions, achieved) -> "PorosityCalibration":
        """Least-squares line through (logit c_i, logit mean achieved_i).

        ``achieved`` holds one mean porosity per condition (or a list of samples per condition).

        >>> true = PorosityCalibration(intercept=0.3, slope=0.7)         # a model that overshoots low targets
        >>> cal = PorosityCalibration.fit([0.1, 0.2, 0.3], true.predict([0.1, 0.2, 0.3]))
        >>> round(cal.slope, 6), round(float(cal.condition_for(true.predict(0.25))), 6)
        (0.7, 0.25)
        """
        c = np.asarray(conditions, dtype=np.float64)
        m = np.array([float(np.mean(a)) for a in achieved])
        if c.ndim != 1 or len(c) != len(m) or len(c) < 2:
            raise ValueError(f"calibration needs >= 2 conditions with one achieved value each, got "
                             f"{len(c)} conditions and {len(m)} values")
        if np.any((m <= 0) | (m >= 1)):
            raise ValueError(f"achieved porosities must lie in (0, 1) for a logit fit, got {m.tolist()}")
        x, y = porosity_to_scalar(c), porosity_to_scalar(m)
        slope, intercept = np.polyfit(x, y, 1)
        if not slope > MIN_SLOPE:
            raise ValueError(f"the model's porosity does not follow its condition (slope {slope:.3g} <= {MIN_SLOPE} "
                             f"in logit units on conditions {c.tolist()} -> achieved {np.round(m, 4).tolist()}): "
                             "inverting it would ask for extreme conditions")
        return cls(float(intercept), float(slope), tuple(c.tolist()), tuple(m.tolist()))

    def predict(self, condition) -> np.ndarray:
        """Mean porosity the model gives when asked for ``condition``."""
        return scalar_to_porosity(self.intercept + self.slope * porosity_to_scalar(condition))

    def condition_for(self, target) -> np.ndarray:
        """The condition to ask for so that the mean porosity is ``target``."""
        return scalar_to_porosity((porosity_to_scalar(target) - self.intercept) / self.slope)

    def as_dict(self) -> dict:
        return {"intercept": self.intercept, "slope": self.slope, "conditions": list(self.conditions),
                "achieved": list(self.achieved)}


def calibrate_porosity(sample, conditions=(0.08, 0.14, 0.20, 0.26, 0.32)) -> PorosityCalibration:
    """Fit the response of ``sample(condition, j) -> porosities of the volumes drawn for it`` (j: the index
    of the condition, for seeding) on a grid of conditions."""
    return PorosityCalibration.fit(conditions, [np.asarray(sample(float(c), j)) for j, c in enumerate(conditions)])
