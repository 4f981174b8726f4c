import io
import json
import warnings
import zipfile

import numpy as np
import pytest
import tifffile

from diffsci_microstructure.io import (encode_binary, read_raw, read_volume, read_zip, write_raw, write_volume)


@pytest.fixture
def vol():
    rng = np.random.default_rng(0)
    return np.where(rng.random((1, 6, 7, 8)) < 0.3, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".tif", ".tiff", ".zip", ".raw", ".h5", ".hdf5", ".npy", ".nii", ".nii.gz"])
def test_round_trip_keeps_values_dtype_and_voxel_size(tmp_path, vol, suffix):
    path = write_volume(tmp_path / f"v{suffix}", vol, {"voxel_size": 5.345e-6})
    back = read_volume(path)
    assert back.array.dtype == vol.dtype and back.array.shape == vol.shape
    np.testing.assert_array_equal(back.array, vol)
    if suffix not in (".npy",):
        assert back.meta["voxel_size"] == pytest.approx(5.345e-6, rel=1e-6)


def test_2d_image_and_float_round_trip(tmp_path):
    img = np.random.default_rng(1).random((5, 9)).astype(np.float32)
    for s in (".tif", ".h5", ".npy", ".nii.gz"):
        back = read_volume(write_volume(tmp_path / f"i{s}", img))
        assert back.array.shape == (1, 5, 9)
        np.testing.assert_array_equal(back.array[0], img)


def test_zip_of_slices_is_stacked_in_name_order(tmp_path, vol):
    path = tmp_path / "stack.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in reversed(range(vol.shape[1])):              # written out of order on purpose
            buf = io.BytesIO()
            tifffile.imwrite(buf, vol[0, i])
            zf.writestr(f"slice_{i:04d}.tif", buf.getvalue())
    np.testing.assert_array_equal(read_zip(path).array, vol)


def test_raw_shape_from_name_sidecar_or_arguments(tmp_path, vol):
    named = tmp_path / "rock_6x7x8_uint8.raw"
    vol[0].tofile(named)
    np.testing.assert_array_equal(read_volume(named).array, vol)
    write_raw(tmp_path / "plain.raw", vol)
    assert json.loads((tmp_path / "plain.raw.json").read_text())["shape"] == [6, 7, 8]
    (tmp_path / "plain.raw.json").unlink()
    np.testing.assert_array_equal(read_raw(tmp_path / "plain.raw", (6, 7, 8), "uint8").array, vol)
    big = (np.arange(24, dtype=">u2")).reshape(2, 3, 4)
    big.tofile(tmp_path / "be.raw")
    np.testing.assert_array_equal(read_raw(tmp_path / "be.raw", (2, 3, 4), "uint16", byteorder=">").array[0], big)


def test_bad_files_are_clear_errors(tmp_path, vol):
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(ValueError, match="junk.tif: not a readable TIFF"):
        read_volume(tmp_path / "junk.tif")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="empty.zip: the zip holds no .tif"):
        read_volume(tmp_path / "empty.zip")
    (tmp_path / "broken.zip").write_bytes(b"PK nonsense")
    with pytest.raises(ValueError, match="broken.zip: not a readable zip"):
        read_volume(tmp_path / "broken.zip")
    vol[0].tofile(tmp_path / "short.raw")
    with pytest.raises(ValueError, match=r"short.raw: the file has 336 bytes .* needs 512"):
        read_raw(tmp_path / "short.raw", (8, 8, 8), "uint8")
    with pytest.raises(ValueError, match="noshape.raw: a raw file needs its shape and dtype"):
        (tmp_path / "noshape.raw").write_bytes(b"\0" * 8)
        read_volume(tmp_path / "noshape.raw")
    with pytest.raises(FileNotFoundError, match="missing.tif: no such file"):
        read_volume(tmp_path / "missing.tif")
    with pytest.raises(ValueError, match="unsupported volume format"):
        write_volume(tmp_path / "v.png", vol)
    np.save(tmp_path / "rgb.npy", np.zeros((4, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"rgb.npy: the volume has shape \(4, 4, 4, 3\)"):
        read_volume(tmp_path / "rgb.npy")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((8, 8, 3), np.uint8), photometric="rgb")
    with pytest.raises(ValueError, match="rgb.tif: colour"):
        read_volume(tmp_path / "rgb.tif")


def test_tiff_written_page_by_page_reads_every_page(tmp_path, vol):
    path = tmp_path / "pages.tif"
    for page in vol[0]:                                   # one tifffile series per page
        tifffile.imwrite(path, page, append=True)
    np.testing.assert_array_equal(read_volume(path).array, vol)
    odd = tmp_path / "odd.tif"
    tifffile.imwrite(odd, vol[0, 0], append=True)
    tifffile.imwrite(odd, vol[0, 0, :3], append=True)
    with pytest.raises(ValueError, match=r"odd.tif: the TIFF holds 2 image series .*\(3, 8\).*\(7, 8\)"):
        read_volume(odd)


@pytest.mark.parametrize("dtype", [bool, np.int32, np.float64])
def test_tiff_keeps_voxel_size_for_dtypes_imagej_cannot_hold(tmp_path, dtype):
    a = (np.arange(24).reshape(1, 2, 3, 4) % 2).astype(dtype)      # last axis 4: tifffile guesses RGBA
    back = read_volume(write_volume(tmp_path / "m.tif", a, {"voxel_size": 2.5e-6}))
    assert back.array.dtype == a.dtype
    np.testing.assert_array_equal(back.array, a)
    assert back.meta["voxel_size"] == pytest.approx(2.5e-6)


def test_zip_slices_without_zero_padding_are_in_numeric_order(tmp_path):
    path = tmp_path / "unpadded.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(12):                               # zip order 0..11; plain name sort gives 0, 1, 10, 11, 2
            buf = io.BytesIO()
            tifffile.imwrite(buf, np.full((3, 4), i, np.uint8))
            zf.writestr(f"slice_{i}.tif", buf.getvalue())
    assert read_zip(path).array[0, :, 0, 0].tolist() == list(range(12))


def test_hdf5_group_with_a_volume_name_is_a_clear_error(tmp_path):
    import h5py
    with h5py.File(tmp_path / "grp.h5", "w") as f:
        f.create_group("data")["scan"] = np.zeros((4, 4, 4))
    with pytest.raises(ValueError, match=r"grp.h5: 'data' is a group, not a dataset \(datasets: data/scan\)"):
        read_volume(tmp_path / "grp.h5")
    assert read_volume(tmp_path / "grp.h5", key="data/scan").array.shape == (1, 4, 4, 4)


def test_nifti_bool_mask_is_written_as_uint8(tmp_path):
    mask = np.random.default_rng(2).random((1, 4, 5, 6)) < 0.5
    back = read_volume(write_volume(tmp_path / "mask.nii.gz", mask, {"voxel_size": 1e-6}))
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, mask)


def test_nifti_without_voxel_size_has_unknown_units_and_reads_none(tmp_path, vol):
    import nibabel as nib
    path = write_volume(tmp_path / "nov.nii", vol)
    assert nib.load(str(path)).header.get_xyzt_units()[0] == "unknown"
    assert read_volume(path).meta.get("voxel_size") is None
    img = nib.Nifti1Image(vol[0], np.diag([0.5, 0.5, 0.5, 1.0]))
    for unit, metres in (("mm", 5e-4), ("micron", 5e-7), ("meter", 0.5)):
        img.header.set_xyzt_units(unit)
        nib.save(img, str(tmp_path / f"{unit}.nii"))
        assert read_volume(tmp_path / f"{unit}.nii").meta["voxel_size"] == pytest.approx(metres)


def test_npy_rgb_image_warns_but_reads_as_volume(tmp_path):
    np.save(tmp_path / "photo.npy", np.zeros((32, 40, 3), np.uint8))
    with pytest.warns(UserWarning, match=r"photo.npy: shape \(32, 40, 3\) looks like a colour image.*3D volume"):
        assert read_volume(tmp_path / "photo.npy").array.shape == (1, 32, 40, 3)
    np.save(tmp_path / "thin.npy", np.zeros((6, 7, 3), np.uint8))   # small volume, not an image: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_volume(tmp_path / "thin.npy")


def test_npy_corrupt_file_and_object_array_are_told_apart(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"definitely not numpy")
    with pytest.raises(ValueError, match=r"junk.npy: not a valid .npy file \(numpy: .*magic"):
        read_volume(tmp_path / "junk.npy")
    np.save(tmp_path / "cut.npy", np.arange(100))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut.npy: not a valid .npy file"):
        read_volume(tmp_path / "cut.npy")
    np.save(tmp_path / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj.npy: the .npy holds an object array"):
        read_volume(tmp_path / "obj.npy")


def test_hdf5_ambiguous_datasets_need_a_key(tmp_path):
    import h5py
    with h5py.File(tmp_path / "two.h5", "w") as f:
        f["a"] = np.zeros((4, 4, 4))
        f["b"] = np.ones((4, 4, 4))
    with pytest.raises(ValueError, match="cannot tell which dataset"):
        read_volume(tmp_path / "two.h5")
    assert read_volume(tmp_path / "two.h5", key="b").array.mean() == 1


def test_encode_binary_uses_the_file_coding():
    pore = np.array([[True, False]])
    np.testing.assert_array_equal(encode_binary(pore, {"dtype": "uint16", "pore_value": 1, "solid_value": 0}),
                                  [[1, 0]])
    assert encode_binary(pore).dtype == np.uint8


@pytest.mark.data
def test_berea_reads_as_documented(berea_path):
    v = read_volume(berea_path)
    assert v.array.shape == (1, 400, 400, 400) and v.array.dtype == np.uint8
    assert set(np.unique(v.array[0, :50]).tolist()) == {0, 255}
    assert (v.array == 0).mean() == pytest.approx(0.1965, abs=5e-4)
