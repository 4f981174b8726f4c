"""Detection metrics against values computed by hand (including ties)."""

import numpy as np
import pytest
import torch

from diffsci.metrics import auroc, average_precision, detection_metrics, fpr_at_tpr

# normals: 0.1 0.2 0.3 0.4 0.6 ; anomalies: 0.35 0.6 0.9
SCORES = [0.1, 0.2, 0.3, 0.4, 0.6, 0.35, 0.6, 0.9]
LABELS = [0, 0, 0, 0, 0, 1, 1, 1]


def test_auroc_by_pair_counting():
    # pairs (anomaly > normal): 0.35 beats 3, 0.6 beats 4 and ties 1 (1/2), 0.9 beats 5 -> 12.5 / 15
    assert auroc(SCORES, LABELS) == pytest.approx(12.5 / 15)
    assert auroc(torch.tensor(SCORES), torch.tensor(LABELS).bool()) == pytest.approx(12.5 / 15)
    assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0 and auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0


def test_average_precision_by_hand():
    # descending thresholds: 0.9 (TP 1/1), 0.6 (2 items, 1 TP: 2/3 precision, recall 2/3), 0.4 (2/4),
    # 0.35 (3/5, recall 1): AP = 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/5
    assert average_precision(SCORES, LABELS) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


def test_fpr_at_95_tpr_by_hand():
    # TPR reaches 1 (>= 0.95) only at threshold 0.35; normals >= 0.35: 0.4, 0.6 -> FPR 2/5
    assert fpr_at_tpr(SCORES, LABELS) == pytest.approx(2 / 5)
    # TPR 2/3 is first reached at 0.6, where the tied normal 0.6 is also flagged: FPR 1/5
    assert fpr_at_tpr(SCORES, LABELS, tpr=0.6) == pytest.approx(1 / 5)
    assert fpr_at_tpr(np.r_[np.arange(100), np.arange(100, 120)], np.r_[np.zeros(100), np.ones(20)]) == 0.0
    m = detection_metrics(SCORES, LABELS)
    assert set(m) == {"auroc", "ap", "fpr95"} and m["fpr95"] == pytest.approx(0.4)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="both classes"):
        auroc([0.1, 0.2], [1, 1])
    with pytest.raises(ValueError, match="labels"):
        auroc([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ValueError, match="non-finite"):
        average_precision([0.1, float("nan")], [0, 1])
    with pytest.raises(ValueError, match="binary"):
        auroc([0.1, 0.2], [0, 2])
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr(SCORES, LABELS, tpr=0.0)
