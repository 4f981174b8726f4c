"""MONAI preprocessing, slice/patch datasets and splits; real-data checks marked ``data``."""

import numpy as np
import pytest
import torch

from diffsci_mri.datasets import MRIDataConfig, make_dataset, random_crops, slice_dataset, split_slices
from diffsci_mri.io import read_nifti
from diffsci_mri.preprocess import preprocess_volume


def _cfg(folder, **kw):
    base = dict(root=str(folder), files=None, pattern="*.nii.gz", spacing=(2.0, 2.0, 2.0), size=(32, 32),
                test_range=(0.5, 0.7), val_range=(0.2, 0.3), gap=1)
    base.update(kw)
    return MRIDataConfig(**base)


def test_preprocess_resamples_reorients_and_scales(volume_folder):
    loaded = read_nifti(sorted(volume_folder.glob("*.nii.gz"))[0])
    flipped = loaded.meta["affine"].copy()
    flipped[0, 0] = -2.0                                  # an LAS volume: Orientation must flip it to RAS
    loaded.meta["affine"] = flipped
    v = preprocess_volume(loaded, pixdim=(2.0, 2.0, 2.0), in_plane=(32, 48), margin=0)
    aff = np.asarray(v.affine)
    np.testing.assert_allclose(np.diag(aff)[:3], [2.0, 2.0, 2.0], atol=1e-6)   # RAS, 2 mm
    assert v.shape[1:3] == (32, 48)
    assert float(v.min()) == 0.0 and float(v.max()) == 1.0
    # spacing 2.5 -> 2.0 along z: the foreground (0.85 of 36 slices of 2.5 mm) spans ~ 0.85*90/2 slices
    fg_z = int((v[0] > 0.02).any(0).any(0).sum())
    assert abs(fg_z - 0.85 * 90 / 2) <= 3


def test_split_slices_are_disjoint_with_a_gap(volume_folder):
    cfg = _cfg(volume_folder)
    from diffsci_mri.datasets import load_volume
    vol = load_volume(sorted(volume_folder.glob("*.nii.gz"))[0], cfg)
    s = split_slices(vol, 2, 0.1, cfg.test_range, cfg.val_range, gap=1)
    assert s["test"].size and s["val"].size and s["train"].size
    held = np.r_[s["test"], s["val"]]
    assert np.abs(s["train"][:, None] - held[None, :]).min() >= 2       # gap of 1 slice each side


def test_slice_dataset_items_and_flips(volume_folder):
    cfg = _cfg(volume_folder)
    train, index = slice_dataset(cfg, "train", return_index=True)
    test = make_dataset(cfg, "test")
    item = train[0]
    assert item["x"].shape == (1, 32, 32) and item["x"].dtype == torch.float32
    n = len(train) // 2
    torch.testing.assert_close(train.x[n:], train.x[:n].flip(-2))     # mirrored copies
    assert len(index) == len(train) and all(p.endswith(".nii.gz") for p, _ in index)
    assert len(test) > 0
    crops = make_dataset(_cfg(volume_folder, crop=(16, 16), crops_per_slice=3), "train")
    assert len(crops) == 3 * len(train) and crops.sample_shape == (1, 16, 16)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        slice_dataset(cfg, "dev")


def test_patch_dataset_stays_in_its_slab(volume_folder):
    cfg = _cfg(volume_folder, kind="patches", size=(16, 16, 8), patches_per_volume=3)
    ds = make_dataset(cfg, "test")
    assert len(ds) == 6 and ds.sample_shape == (1, 16, 16, 8)
    assert float(ds.x.max()) > 0


def test_config_and_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="kind='patches' needs 3"):
        MRIDataConfig(kind="patches", size=(32, 32))
    with pytest.raises(ValueError, match="test_range"):
        MRIDataConfig(test_range=(0.7, 0.5))
    with pytest.raises(FileNotFoundError, match="no such data folder"):
        make_dataset(MRIDataConfig(root=str(tmp_path / "nope")), "train")
    with pytest.raises(FileNotFoundError, match="no file matches"):
        make_dataset(MRIDataConfig(root=str(tmp_path), files=None), "train")


def test_random_crops_are_windows_of_the_image():
    x = np.arange(2 * 1 * 6 * 7, dtype=np.float32).reshape(2, 1, 6, 7)
    c, idx = random_crops(x, (3, 4), 5, seed=1, index=[("a", 0), ("b", 1)])
    assert c.shape == (10, 1, 3, 4) and idx[5] == ("b", 1)
    for k in range(10):
        src = x[k // 5, 0]
        r0, c0 = np.argwhere(src == c[k, 0, 0, 0])[0]
        np.testing.assert_array_equal(src[r0:r0 + 3, c0:c0 + 4], c[k, 0])


@pytest.mark.data
def test_ixi_slices_real_data(real_mri):
    cfg = MRIDataConfig(root=str(real_mri))
    test, index = slice_dataset(cfg, "test", return_index=True)
    train = slice_dataset(cfg.model_copy(update={"flip": False}), "train")
    assert test.sample_shape == (1, 128, 128) and 10 <= len(test) <= 40
    assert float(test.x.max()) == 1.0 and float(test.x.min()) == 0.0
    test_slices = {(p, i) for p, i in index}
    _, tr_index = slice_dataset(cfg.model_copy(update={"flip": False}), "train", return_index=True)
    for p, i in tr_index:                                 # no training slice within the gap of a test slice
        assert all(abs(i - j) > cfg.gap for q, j in test_slices if q == p)
    assert len(train) > 3 * len(test)
