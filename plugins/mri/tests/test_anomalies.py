"""MOOD-style synthetic anomalies, phantoms and the BraTS patch assembly."""

import h5py
import numpy as np
import pytest

from diffsci_mri.anomalies import ANOMALY_KINDS, add_anomaly, random_ellipsoid
from diffsci_mri.brats import assemble_brats, tiles
from diffsci_mri.harness.anomaly import sample_scores
from diffsci_mri.phantom import random_phantoms, render_ellipses, shepp_logan


def _brain(shape=(48, 48)):
    g = np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij")
    r = np.sqrt(sum(x ** 2 for x in g))
    return np.where(r < 0.8, 0.5 + 0.1 * g[0], 0.0)


@pytest.mark.parametrize("kind", ANOMALY_KINDS)
def test_anomaly_changes_only_the_masked_region(kind):
    img = _brain()
    a = add_anomaly(img, kind, np.random.default_rng(3), radius=(5, 9))
    fg = img > 0.02
    assert a.mask.any() and not (a.mask & ~fg).any()                 # inside the brain only
    changed = np.abs(a.image - img) > 1e-6
    if kind == "intensity":
        # the shift blends to zero at the ellipse edge; nothing changes outside the ellipse
        ell = np.abs(a.image - img) > 0
        assert abs(np.abs(a.image - img)[a.mask].mean() - abs(a.params["delta"])) < 0.1
        assert ell.sum() >= a.mask.sum()
    elif kind == "noise":
        assert not (changed & ~a.mask).any()
        assert abs(np.std((a.image - img)[a.mask]) - a.params["std"]) < 0.5 * a.params["std"]
    else:
        assert changed.any() and (changed & a.mask).sum() > 0.3 * a.mask.sum()
    assert a.image.min() >= 0 and a.image.max() <= 1


def test_anomaly_3d_and_errors():
    vol = np.zeros((20, 20, 20))
    vol[4:16, 4:16, 4:16] = 0.6
    a = add_anomaly(vol, "intensity", np.random.default_rng(0), radius=(3, 5))
    assert a.mask.shape == (20, 20, 20) and a.mask.any()
    with pytest.raises(ValueError, match="unknown anomaly kind 'hole'"):
        add_anomaly(vol, "hole", np.random.default_rng(0))
    with pytest.raises(ValueError, match="no foreground"):
        random_ellipsoid((8, 8), np.zeros((8, 8), bool), np.random.default_rng(0))


def test_phantoms():
    sl = shepp_logan(64)
    assert sl.shape == (64, 64) and sl.max() == 1.0 and sl.min() == 0.0
    a, b = random_phantoms(3, 32, seed=5), random_phantoms(3, 32, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a[0], a[1]) and a.shape == (3, 1, 32, 32)
    # an ellipse of semi-axes 0.5 x 0.25 covers pi * 0.125 / 4 of the [-1, 1]^2 square
    e = render_ellipses(np.array([[1.0, 0.5, 0.25, 0.0, 0.0, 30.0]]), 256)
    assert abs(e.mean() - np.pi * 0.125 / 4) < 0.002


def test_sample_scores_percentile_inside_brain():
    maps = np.zeros((2, 10, 10))
    maps[1, :2, :] = 5.0                                             # 20 % of the image lights up
    brain = np.ones((2, 10, 10), bool)
    s = sample_scores(maps, brain, q=90.0)
    assert s[0] == 0.0 and s[1] == 5.0


def _write_patch(path, x, y):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x)
        f.create_dataset("y", data=y)


def test_brats_assembly_and_tiles(tmp_path):
    rng = np.random.default_rng(0)
    full = rng.uniform(100, 1000, (4, 80, 64, 10))
    lab = np.zeros((80, 64, 10), int)
    lab[50:60, 30:40, 3:7] = 2
    onehot = np.eye(4)[lab]
    _write_patch(tmp_path / "C_1_x10_y20_z30.h5", full[:, :48, :48, :8], onehot[:48, :48, :8])
    _write_patch(tmp_path / "C_2_x42_y36_z32.h5", full[:, 32:, 16:, 2:], onehot[32:, 16:, 2:])
    v = assemble_brats(tmp_path)
    assert v.z_range == (30, 39)
    np.testing.assert_array_equal(v.tumour[60:70, 50:60, 33:37], True)
    assert v.tumour.sum() == 10 * 10 * 4
    np.testing.assert_allclose(np.percentile(v.image[0][v.brain], 99.5), 1.0, atol=1e-5)
    t = tiles(v, range(30, 40), size=16, stride=8, tumour_margin=2)
    assert t["x"].shape[1:] == (4, 16, 16) and t["clean"].any() and (t["tumour_frac"] > 0).any()
    assert not (t["clean"] & (t["tumour_frac"] > 0)).any()
    _write_patch(tmp_path / "bad_3_x0_y0_z0.h5", full[:2], onehot)
    with pytest.raises(ValueError, match="bad_3_x0_y0_z0.h5: x has shape"):
        assemble_brats(tmp_path)
    with pytest.raises(FileNotFoundError, match="no BraTS patch files"):
        assemble_brats(tmp_path / "empty")
