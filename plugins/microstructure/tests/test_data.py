import numpy as np
import pytest
from pydantic import ValidationError

from diffsci_microstructure.data import (MicrostructureData, SubvolumeDataset, from_model, local_porosity,
                                         make_dataset, porosity_to_scalar, random_subvolumes, scalar_to_porosity,
                                         split_region, to_model)
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


def test_local_porosity_is_the_box_mean_around_each_voxel(pore):
    field = local_porosity(pore, 4)
    # an even box of 4 covers offsets -2..+1 (scipy's centre); away from the faces no reflection enters
    for v in [(5, 7, 9), (20, 3 + 2, 26), (35, 15, 2 + 2)]:
        box = pore[tuple(slice(c - 2, c + 2) for c in v)]
        assert field[v] == pytest.approx(box.mean(), abs=1e-6)
    assert field.shape == pore.shape and field.dtype == np.float32
    assert local_porosity(np.ones((5, 5, 5), bool), 3).min() == 1.0        # reflection adds no grain


def test_field_channel_is_the_logit_local_porosity_of_the_same_crop_and_symmetry():
    rng = np.random.default_rng(1)
    pore = rng.random((40, 30, 30)) < np.linspace(0.05, 0.6, 40)[:, None, None]    # porosity rises along axis 0
    field = local_porosity(pore, 8)
    aug = SubvolumeDataset(pore, 6, 20, seed=2, field=field)
    plain = SubvolumeDataset(pore, 6, 20, seed=2, field=field, augment=False)
    group = symmetries(3)
    turned = 0
    for i in range(20):
        p, f, _ = plain._patch(i)
        # locate the crop (random voxels: one place matches) and compare the channel with the region's field
        hits = [(a, b, c) for a in range(35) for b in range(25) for c in range(25)
                if np.array_equal(pore[a:a + 6, b:b + 6, c:c + 6], p)]
        assert len(hits) == 1
        a, b, c = hits[0]
        item = plain[i]
        np.testing.assert_allclose(item["channels"][0].numpy(),
                                   porosity_to_scalar(field[a:a + 6, b:b + 6, c:c + 6]), rtol=1e-5, atol=1e-5)
        # the augmented item turns patch and field by one and the same symmetry
        pa, fa, _ = aug._patch(i)
        syms = [s for s in group if np.array_equal(apply_symmetry(p, s), pa)]
        assert any(np.array_equal(apply_symmetry(f, s), fa) for s in syms)
        turned += not np.array_equal(f, fa)
    assert turned > 10
    # the field of a border voxel sees the rock outside the patch: not the patch's own box mean
    assert not np.allclose(plain[0]["channels"][0].numpy(), porosity_to_scalar(local_porosity(plain.patch(0), 8)))
    assert "channels" not in SubvolumeDataset(pore, 6, 3)[0]
    with pytest.raises(ValueError, match="porosity field of shape"):
        SubvolumeDataset(pore, 6, 3, field=field[1:])


def test_make_dataset_with_a_porosity_field_feeds_every_split():
    params = MicrostructureData(source="blobs", blobs_size=32, porosity_field=8, conditions=(), patch_size=8,
                                val_fraction=0.25, test_fraction=0.25)
    for split in ("train", "val"):
        item = make_dataset(params, split)[0]
        assert set(item) == {"x", "channels"} and item["channels"].shape == item["x"].shape
        phi = float((item["x"] > 0).float().mean())
        # the field is a neighbourhood porosity: on average near the patch's own
        assert float(scalar_to_porosity(item["channels"].numpy()).mean()) == pytest.approx(phi, abs=0.25)
    with pytest.raises(ValidationError, match="porosity_field"):
        MicrostructureData(porosity_field=1)


def test_condition_box_gives_the_porosity_of_the_box_centred_on_the_patch():
    rng = np.random.default_rng(3)
    pore = rng.random((40, 30, 30)) < np.linspace(0.05, 0.6, 40)[:, None, None]
    box = local_porosity(pore, 16)
    plain = SubvolumeDataset(pore, 6, 30, seed=4, augment=False, box_porosity=box, conditions=("porosity",
                                                                                                 "specific_surface"))
    aug = SubvolumeDataset(pore, 6, 30, seed=4, box_porosity=box, conditions=("porosity", "specific_surface"))
    checked = 0
    for i in range(30):
        p = plain.patch(i)
        a, b, c = next((a, b, c) for a in range(35) for b in range(25) for c in range(25)
                       if np.array_equal(pore[a:a + 6, b:b + 6, c:c + 6], p))
        ctr = (a + 3, b + 3, c + 3)
        s = plain[i]["scalars"].numpy()
        assert s[0] == pytest.approx(porosity_to_scalar(box[ctr]), abs=1e-5)
        assert s[0] != pytest.approx(porosity_to_scalar(p.mean()), abs=1e-3)     # not the patch's own
        assert s[1] == pytest.approx(SubvolumeDataset(pore, 6, 30, seed=4, augment=False,
                                                      conditions=("porosity", "specific_surface"))[i]["scalars"][1])
        np.testing.assert_allclose(aug[i]["scalars"].numpy(), s, rtol=1e-6)       # a symmetry keeps the box
        if all(8 <= v < n - 8 for v, n in zip(ctr, pore.shape)):                   # no reflection: by hand
            assert box[ctr] == pytest.approx(pore[tuple(slice(v - 8, v + 8) for v in ctr)].mean(), abs=1e-6)
            checked += 1
    assert checked >= 3
    with pytest.raises(ValueError, match="box porosity of shape"):
        SubvolumeDataset(pore, 6, 3, box_porosity=box[1:])


def test_make_dataset_reads_condition_box_from_the_params():
    params = MicrostructureData(source="blobs", blobs_size=40, patch_size=8, samples_per_epoch=4, condition_box=24)
    ds = make_dataset(params, "train")
    assert ds.box_porosity is not None and ds.box_porosity.shape == ds.pore.shape
    assert make_dataset(params.model_copy(update={"condition_box": None}), "train").box_porosity is None


def test_balanced_patches_even_out_a_rare_porosity_and_stay_deterministic():
    rng = np.random.default_rng(0)
    pore = rng.random((64, 16, 16)) < 0.1
    pore[56:] = rng.random((8, 16, 16)) < 0.5                 # a porous layer: few patches of the rock see it
    share = lambda ds: np.mean([ds.patch(i).mean() > 0.3 for i in range(400)])
    plain = SubvolumeDataset(pore, 8, 400, seed=5)
    even = SubvolumeDataset(pore, 8, 400, seed=5, balance=4)
    assert share(plain) < 0.12 and share(even) > 0.25        # the rock's 7 % against over a third (4 bins)
    np.testing.assert_array_equal(even.patch(17), SubvolumeDataset(pore, 8, 400, seed=5, balance=4).patch(17))
    edges, accept = even.acceptance
    assert len(edges) == 5 and accept.max() == 1.0 and accept.min() >= 0.1 - 1e-12   # at most 10x reweighting


def test_balance_porosity_applies_to_the_training_split_only():
    params = MicrostructureData(source="blobs", blobs_size=48, patch_size=8, samples_per_epoch=4, val_samples=2,
                                val_fraction=0.25, test_fraction=0.25, balance_porosity=3)
    assert make_dataset(params, "train").acceptance is not None
    assert make_dataset(params, "val").acceptance is None
    capped = make_dataset(params.model_copy(update={"balance_max_ratio": 2.0}), "train").acceptance[1]
    assert capped.max() == 1.0 and capped.min() >= 0.5 - 1e-12        # the cap reaches the acceptance: at most 2x
    assert make_dataset(params.model_copy(update={"balance_max_ratio": 1.0}), "train").acceptance[1].min() == 1.0
    with pytest.raises(ValueError, match="balance_max_ratio = 3.0 does nothing without balance_porosity"):
        MicrostructureData(source="blobs", balance_max_ratio=3)
    MicrostructureData.model_validate(MicrostructureData(source="blobs").model_dump(mode="json"))   # a full dump
