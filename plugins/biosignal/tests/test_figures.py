import numpy as np
import pytest
from matplotlib.image import imread

from diffsci_biosignal.figures import plot_beats_by_class


def test_beats_by_class_wraps_panels_into_class_rows_and_leaves_none_blank(tmp_path):
    beats = np.random.default_rng(0).standard_normal((3, 1, 96))
    groups = {"real N": beats, "synthetic N": beats, "real S": beats, "synthetic S": None}
    grid = imread(plot_beats_by_class(tmp_path / "grid.png", 120.0, groups, ncols=2))
    row = imread(plot_beats_by_class(tmp_path / "row.png", 120.0, groups))
    assert grid.shape[0] > 1.5 * row.shape[0] and grid.shape[1] < 0.6 * row.shape[1]   # 2 x 2 against 1 x 4
    h, w = grid.shape[:2]
    blank = grid[h // 2 + h // 8:h - h // 8, w // 2 + w // 8:w - w // 16, :3]         # the None panel, bottom right
    assert blank.min() > 0.99                                                          # nothing drawn there
    with pytest.raises(ValueError, match="no groups"):
        plot_beats_by_class(tmp_path / "none.png", 120.0, {})
