"""Location-level metrics: pooled pixel AUROC/AP and the one-sort best Dice against brute force."""

import numpy as np
import pytest

from diffsci.metrics import best_dice, dice, pixel_ap, pixel_auroc, segmentation_metrics
from diffsci.metrics import auroc, average_precision


def _brute_best_dice(s, y):
    best, thr = 0.0, None
    for t in np.unique(s):
        d = dice(s >= t, y)
        if d > best:
            best, thr = d, t
    return best, thr


@pytest.mark.parametrize("spatial", [(64,), (8, 8), (4, 4, 4)])
def test_best_dice_equals_brute_force_with_ties(spatial):
    rng = np.random.default_rng(len(spatial))
    masks = rng.random((3, 1, *spatial)) < 0.2
    maps = np.round(masks * 0.8 + rng.random(masks.shape), 1)       # rounding makes many ties
    got, thr = best_dice(maps, masks)
    want, want_thr = _brute_best_dice(maps.reshape(-1), masks.reshape(-1))
    assert got == pytest.approx(want) and thr == pytest.approx(want_thr)
    assert dice(maps >= thr, masks) == pytest.approx(got)


def test_pixel_metrics_pool_every_location():
    rng = np.random.default_rng(0)
    masks = rng.random((2, 1, 6, 6)) < 0.3
    maps = masks + rng.normal(0, 0.7, masks.shape)
    assert pixel_auroc(maps, masks) == pytest.approx(auroc(maps.reshape(-1), masks.reshape(-1)))
    assert pixel_ap(maps, masks) == pytest.approx(average_precision(maps.reshape(-1), masks.reshape(-1)))
    m = segmentation_metrics(maps, masks)
    assert set(m) == {"pixel_auroc", "pixel_ap", "best_dice", "best_dice_threshold"}


def test_dice_by_hand_and_perfect_map():
    assert dice([1, 1, 1, 0], [1, 1, 0, 0]) == pytest.approx(2 * 2 / (3 + 2))
    assert dice([0, 0], [0, 0]) == 1.0
    m = np.zeros((1, 1, 10))
    m[0, 0, 3:5] = 1
    assert best_dice(m * 5 + 1, m) == (1.0, 6.0)
    with pytest.raises(ValueError, match="maps has 10"):
        best_dice(np.zeros(10), np.zeros(9))
