"""Sample-level detection metrics (anomaly score per sample, higher = more anomalous), via scikit-learn.

AUROC (Hanley & McNeil 1982), average precision (area under the step precision-recall curve, as
``sklearn.metrics.average_precision_score``) and the false-positive rate at 95 % true-positive rate,
the standard out-of-distribution metric (Hendrycks & Gimpel 2017; Liang et al. 2018).
"""

from __future__ import annotations

import numpy as np

from ._arrays import scores_and_labels

__all__ = ["auroc", "average_precision", "fpr_at_tpr", "detection_metrics"]


def auroc(scores, labels) -> float:
    """Area under the ROC curve; P(score of a random anomaly > score of a random normal), ties count 1/2.

    >>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    0.75
    """
    from sklearn.metrics import roc_auc_score          # imported here: sklearn takes seconds to import
    s, y = scores_and_labels(scores, labels)
    return float(roc_auc_score(y, s))


def average_precision(scores, labels) -> float:
    """Average precision sum_n (R_n - R_{n-1}) P_n over the thresholds (scikit-learn's definition).

    >>> round(average_precision([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 4)  # (1 + 2/3) / 2
    0.8333
    """
    from sklearn.metrics import average_precision_score
    s, y = scores_and_labels(scores, labels)
    return float(average_precision_score(y, s))


def fpr_at_tpr(scores, labels, tpr: float = 0.95) -> float:
    """False-positive rate at the first threshold (from the top) whose true-positive rate reaches ``tpr``.

    >>> fpr_at_tpr([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])  # both anomalies caught at 0.35: 1 of 2 normals above
    0.5
    """
    if not 0 < tpr <= 1:
        raise ValueError(f"tpr must be in (0, 1], got {tpr}")
    from sklearn.metrics import roc_curve
    s, y = scores_and_labels(scores, labels)
    fpr, tprs, _ = roc_curve(y, s, drop_intermediate=False)
    return float(fpr[np.searchsorted(tprs, tpr - 1e-12, side="left")])


def detection_metrics(scores, labels) -> dict[str, float]:
    """{"auroc", "ap", "fpr95"} for sample scores and binary labels (1 = anomalous)."""
    return {"auroc": auroc(scores, labels), "ap": average_precision(scores, labels),
            "fpr95": fpr_at_tpr(scores, labels, 0.95)}
