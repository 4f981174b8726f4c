import numpy as np
import pytest
from pydantic import ValidationError

from diffsci_microstructure.data import (MicrostructureData, SubvolumeDataset, from_model, make_dataset,
                                         porosity_to_scalar, random_subvolumes, scalar_to_porosity, split_region,
                                         to_model)
from diffsci_microstructure.symmetry import apply_symmetry, symmetries


@pytest.fixture
def pore():
    return np.random.default_rng(0).random((40, 30, 30)) < 0.25


def test_items_are_deterministic_normalised_and_carry_the_logit_porosity(pore):
    ds = SubvolumeDataset(pore, 8, 50, seed=3)
    a, b = ds[7], ds[7]
    assert a["x"].shape == (1, 8, 8, 8) and set(a["x"].unique().tolist()) <= {-1.0, 1.0}
    assert np.array_equal(a["x"], b["x"])
    phi = float((a["x"] > 0).float().mean())
    assert float(a["scalars"][0]) == pytest.approx(porosity_to_scalar(phi), abs=1e-6)
    assert scalar_to_porosity(porosity_to_scalar(0.17)) == pytest.approx(0.17)
    assert np.array_equal(from_model(to_model(pore)), pore)
    with pytest.raises(IndexError):
        ds.patch(50)


def test_each_item_is_a_cube_symmetry_of_a_crop(pore):
    ds = SubvolumeDataset(pore, 6, 20, seed=1)
    plain = SubvolumeDataset(pore, 6, 20, seed=1, augment=False)
    group = symmetries(3)
    for i in range(20):
        aug, raw = ds.patch(i), plain.patch(i)
        assert any(np.array_equal(apply_symmetry(raw, s), aug) for s in group)
        assert aug.sum() == raw.sum()
    # the augmentation draws many different symmetries
    used = {next(k for k, s in enumerate(group) if np.array_equal(apply_symmetry(plain.patch(i), s), ds.patch(i)))
            for i in range(20)}
    assert len(used) > 8


def test_2d_patches_are_planes_of_the_volume(pore):
    ds = SubvolumeDataset(pore, 8, 10, spatial_dims=2, seed=0)
    assert ds[0]["x"].shape == (1, 8, 8) and ds.sample_shape == (1, 8, 8)


def test_splits_are_disjoint_slabs_covering_the_volume():
    parts = [split_region((400, 10, 10), s) for s in ("train", "val", "test")]
    ranges = [range(p[0].start, p[0].stop) for p in parts]
    assert [len(r) for r in ranges] == [232, 32, 136]
    assert sorted(i for r in ranges for i in r) == list(range(400))
    assert split_region((10, 400, 10), "test", axis=1)[1] == slice(264, 400)


def test_config_errors_and_subvolumes(pore):
    with pytest.raises(ValidationError, match="patch_sise"):
        MicrostructureData(patch_sise=8)
    with pytest.raises(ValidationError, match="leaves nothing"):
        MicrostructureData(val_fraction=0.5, test_fraction=0.5)
    subs = random_subvolumes(pore, 10, 3, seed=0)
    assert subs.shape == (3, 10, 10, 10)
    with pytest.raises(ValueError, match="do not fit"):
        random_subvolumes(pore, 35, 1)
    with pytest.raises(FileNotFoundError, match="nowhere.tif: no such volume"):
        make_dataset(MicrostructureData(path="/nowhere.tif"), "train")


@pytest.mark.data
def test_berea_dataset(berea_path):
    params = MicrostructureData(path=str(berea_path), patch_size=32, samples_per_epoch=64)
    train, val = make_dataset(params, "train"), make_dataset(params, "val")
    assert len(train) == 64 and len(val) == params.val_samples
    phis = [float((train[i]["x"] > 0).float().mean()) for i in range(64)]
    assert np.mean(phis) == pytest.approx(0.1965, abs=0.03)                 # the image's porosity
    assert train.pore.shape == (232, 400, 400) and val.pore.shape == (32, 400, 400)


def test_shipped_configs_validate():
    from diffsci.config import load_config, validate_data_params
    from diffsci.domains import get_domain
    for name, path in get_domain("microstructure").configs.items():
        params = validate_data_params(load_config(path), str(path))
        assert isinstance(params, MicrostructureData), name
    assert {"microstructure_berea", "microstructure_demo"} <= set(get_domain("microstructure").configs)


def test_val_patch_size_for_thin_held_out_slabs():
    # a 12-slice validation slab cannot hold 20^3 patches; val_patch_size validates at a side that fits
    kw = dict(source="blobs", blobs_size=48, val_fraction=0.25, test_fraction=0.25, patch_size=20,
              samples_per_epoch=4, val_samples=3)
    with pytest.raises(ValueError, match=r"patches of side 20 do not fit in a region of shape \(12, 48, 48\)"):
        make_dataset(MicrostructureData(**kw), "val")
    params = MicrostructureData(**kw, val_patch_size=12)
    train, val, test = (make_dataset(params, s) for s in ("train", "val", "test"))
    assert train[0]["x"].shape == (1, 20, 20, 20)
    assert val[0]["x"].shape == test[0]["x"].shape == (1, 12, 12, 12)
    assert len(val) == 3 and train.pore.shape == (24, 48, 48)
