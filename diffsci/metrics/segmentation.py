"""Location-level metrics for anomaly maps against ground-truth masks (pixels, voxels or time points).

Pixel AUROC and AP pool every location of every sample (as in MVTec-AD / BraTS anomaly-segmentation
evaluations; Baur et al. 2021) through scikit-learn. The best Dice sweeps every threshold on the pooled
locations: one sort, then cumulative sums give TP(t) and the number predicted positive for all
thresholds at once, Dice(t) = 2 TP / (#pred + #pos), O(n log n) instead of O(n) per threshold.
"""

from __future__ import annotations

import numpy as np

from ._arrays import as_numpy, scores_and_labels

__all__ = ["pixel_auroc", "pixel_ap", "dice", "best_dice", "segmentation_metrics"]


def pixel_auroc(maps, masks) -> float:
    """AUROC over all locations of all samples; ``maps`` and ``masks`` have the same shape."""
    from sklearn.metrics import roc_auc_score          # imported here: sklearn takes seconds to import
    s, y = scores_and_labels(maps, masks, "maps")
    return float(roc_auc_score(y, s))


def pixel_ap(maps, masks) -> float:
    """Average precision over all locations of all samples."""
    from sklearn.metrics import average_precision_score
    s, y = scores_and_labels(maps, masks, "maps")
    return float(average_precision_score(y, s))


def dice(pred, mask) -> float:
    """Dice = 2 |P & M| / (|P| + |M|) of two binary arrays (1.0 when both are empty).

    >>> dice([1, 1, 0, 0], [1, 0, 0, 0])
    0.6666666666666666
    """
    p, m = as_numpy(pred, "pred").astype(bool).reshape(-1), as_numpy(mask, "mask").astype(bool).reshape(-1)
    if p.shape != m.shape:
        raise ValueError(f"pred has {p.size} values but mask has {m.size}")
    denom = p.sum() + m.sum()
    return 1.0 if denom == 0 else float(2 * (p & m).sum() / denom)


def best_dice(maps, masks) -> tuple[float, float]:
    """The best Dice over all thresholds ``map >= t`` on the pooled locations, and that threshold.

    >>> best_dice([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0])
    (1.0, 0.8)
    """
    s, y = scores_and_labels(maps, masks, "maps")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)                                  # TP when the top k+1 locations are positive
    last = np.r_[np.nonzero(np.diff(s_sorted))[0], s.size - 1]  # thresholds only between distinct values
    scores = 2 * tp[last] / ((last + 1) + y.sum())
    i = int(np.argmax(scores))
    return float(scores[i]), float(s_sorted[last[i]])


def segmentation_metrics(maps, masks) -> dict[str, float]:
    """{"pixel_auroc", "pixel_ap", "best_dice", "best_dice_threshold"} for maps and binary masks."""
    bd, thr = best_dice(maps, masks)
    return {"pixel_auroc": pixel_auroc(maps, masks), "pixel_ap": pixel_ap(maps, masks),
            "best_dice": bd, "best_dice_threshold": thr}
