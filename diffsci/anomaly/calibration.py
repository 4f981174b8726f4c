"""Calibrate anomaly scores against a reference set of normal data: percentiles and p-values.

The p-value is the conformal one (Vovk et al. 2005; Bates et al. 2023): for n reference scores
R_1..R_n of normal data and a new score s (higher = more anomalous),

    p(s) = (1 + #{i : R_i >= s}) / (n + 1),

which is super-uniform for a normal s exchangeable with the reference: P(p <= alpha) <= alpha. So
thresholding p <= alpha bounds the false-positive rate on normal data by alpha, with no model of the
score distribution.
"""

from __future__ import annotations

import math

import numpy as np

from ..metrics._arrays import as_numpy

__all__ = ["Calibrator"]


class Calibrator:
    """Percentiles and conformal p-values of scores against reference scores of normal data.

    >>> c = Calibrator([1.0, 2.0, 3.0, 4.0])
    >>> c.p_value([4.5, 2.5]).tolist()  # (1 + 0)/5, (1 + 2)/5
    [0.2, 0.6]
    >>> c.percentile([2.0]).tolist()  # 1 below, 1 tied: (1 + 0.5)/4
    [37.5]
    """

    def __init__(self, reference):
        ref = as_numpy(reference, "reference").astype(np.float64).reshape(-1)
        if ref.size < 1:
            raise ValueError("the reference set of normal scores is empty")
        if not np.isfinite(ref).all():
            raise ValueError(f"reference scores: {int((~np.isfinite(ref)).sum())} non-finite values")
        self.reference = np.sort(ref)

    @property
    def n(self) -> int:
        return self.reference.size

    def _scores(self, scores) -> np.ndarray:
        return as_numpy(scores, "scores").astype(np.float64)

    def p_value(self, scores) -> np.ndarray:
        """Conformal p-values (1 + #{R >= s}) / (n + 1), same shape as ``scores``."""
        s = self._scores(scores)
        at_least = self.n - np.searchsorted(self.reference, s, side="left")
        return (1 + at_least) / (self.n + 1)

    def percentile(self, scores) -> np.ndarray:
        """Percentile of each score in the reference (ties count half, as scipy's kind='mean')."""
        s = self._scores(scores)
        below = np.searchsorted(self.reference, s, side="left")
        upto = np.searchsorted(self.reference, s, side="right")
        return 100.0 * (below + upto) / (2 * self.n)

    def threshold(self, alpha: float) -> float:
        """The smallest score whose p-value is <= alpha (flag s >= threshold: FPR <= alpha on normal data).

        Returns +inf when alpha < 1/(n+1): the reference is too small to certify that rate.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        k = math.ceil((self.n + 1) * (1 - alpha))             # the k-th smallest reference score
        if k > self.n:
            return math.inf
        return float(np.nextafter(self.reference[k - 1], np.inf))

    def state_dict(self) -> dict:
        return {"reference": self.reference.tolist()}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Calibrator":
        return cls(state["reference"])
