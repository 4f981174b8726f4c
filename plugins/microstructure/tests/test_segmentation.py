import numpy as np
import pytest

from diffsci_microstructure.segmentation import binarize


def test_binary_volume_by_value():
    v = np.array([[0, 255], [255, 255]], np.uint8)
    pore, meta = binarize(v)
    assert pore.tolist() == [[True, False], [False, False]] and meta["pore_value"] == 0
    pore, meta = binarize(v, pore_value=255)
    assert pore.sum() == 3 and meta["solid_value"] == 0
    pore, _ = binarize(v, pore_is_dark=False)
    assert pore.sum() == 3
    with pytest.raises(ValueError, match="pore_value=7 is not one of"):
        binarize(v, pore_value=7)


def test_grayscale_is_segmented_by_otsu_with_a_warning():
    rng = np.random.default_rng(0)
    truth = rng.random((32, 32, 32)) < 0.25
    gray = np.where(truth, 60.0, 180.0) + rng.normal(0, 15, truth.shape)      # dark pores, bright grains
    with pytest.warns(UserWarning, match="Otsu"):
        pore, meta = binarize(gray.astype(np.float32), source="scan.tif")
    assert 60 < meta["threshold"] < 180
    assert (pore == truth).mean() > 0.99


def test_single_value_and_nan_are_errors():
    with pytest.raises(ValueError, match="single value"):
        binarize(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="NaN"):
        binarize(np.array([0.0, np.nan, 1.0, 2.0]))
