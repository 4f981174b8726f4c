"""Round trips and clear errors of the MRI readers/writers (NIfTI, fastMRI HDF5, BART, NumPy)."""

import gzip

import h5py
import nibabel as nib
import numpy as np
import pytest

from diffsci_mri import domain
from diffsci_mri.io import (load_fastmri, load_npy, parse_ismrmrd_header, read_cfl, read_fastmri, read_nifti,
                            save_npy, write_cfl, write_fastmri, write_nifti)


def _affine():
    a = np.array([[0.0, -1.2, 0.1, 90.0], [0.94, 0.0, 0.0, -120.0], [0.0, 0.1, 0.94, -80.0], [0, 0, 0, 1]])
    return a


def test_nifti_round_trip_keeps_affine_and_header(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.integers(0, 500, (7, 6, 5)).astype(np.int16)
    img = nib.Nifti1Image(data, _affine())
    img.header["descrip"] = b"IXI-like"
    img.header.set_xyzt_units("mm", "sec")
    img.set_qform(_affine(), code=1)
    img.set_sform(_affine(), code=1)
    src = tmp_path / "src.nii.gz"
    nib.save(img, src)
    loaded = read_nifti(src)
    assert loaded.array.shape == (1, 7, 6, 5) and loaded.array.dtype == np.float32
    np.testing.assert_array_equal(loaded.array[0], data.astype(np.float32))
    np.testing.assert_allclose(loaded.meta["affine"], _affine(), atol=1e-6)
    out = tmp_path / "out.nii.gz"
    write_nifti(out, loaded.array * 0.5, loaded.meta)
    back = nib.load(out)
    np.testing.assert_allclose(back.affine, _affine(), atol=1e-6)
    assert back.header["descrip"].tobytes().startswith(b"IXI-like")
    assert back.header.get_xyzt_units() == ("mm", "sec")
    assert int(back.header["sform_code"]) == 1 and back.get_data_dtype() == np.float32
    np.testing.assert_allclose(read_nifti(out).array, loaded.array * 0.5)


def test_nifti_4d_is_channels_first(tmp_path):
    data = np.arange(2 * 3 * 4 * 2, dtype=np.float32).reshape(2, 3, 4, 2)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "v.nii")
    arr = read_nifti(tmp_path / "v.nii").array
    assert arr.shape == (2, 2, 3, 4)
    np.testing.assert_array_equal(arr[1], data[..., 1])
    write_nifti(tmp_path / "w.nii", arr, {"affine": np.eye(4)})
    np.testing.assert_array_equal(nib.load(tmp_path / "w.nii").get_fdata(), data)


def test_nifti_truncated_corrupt_nan_and_rank_errors(tmp_path):
    good = tmp_path / "g.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((16, 16, 16), np.float32), np.eye(4)), good)
    raw = good.read_bytes()
    (tmp_path / "t.nii.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="t.nii.gz.*truncated or corrupt"):
        read_nifti(tmp_path / "t.nii.gz")
    (tmp_path / "c.nii.gz").write_bytes(gzip.compress(b"not a nifti header at all" * 20))
    with pytest.raises(ValueError, match="c.nii.gz"):
        read_nifti(tmp_path / "c.nii.gz")
    nan = np.ones((4, 4, 4), np.float32)
    nan[1, 2, 3] = np.nan
    nib.save(nib.Nifti1Image(nan, np.eye(4)), tmp_path / "n.nii")
    with pytest.raises(ValueError, match=r"n.nii: volume holds 1 NaN/Inf value\(s\), the first at index \(1, 2, 3\)"):
        read_nifti(tmp_path / "n.nii")
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2, 2, 2, 2), np.float32), np.eye(4)), tmp_path / "r.nii")
    with pytest.raises(ValueError, match="r.nii: NIfTI data has shape"):
        read_nifti(tmp_path / "r.nii")
    with pytest.raises(FileNotFoundError, match="missing.nii"):
        read_nifti(tmp_path / "missing.nii")


def _fastmri_file(path, multicoil: bool):
    rng = np.random.default_rng(1)
    shape = (3, 4, 8, 6) if multicoil else (3, 8, 6)
    k = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    with h5py.File(path, "w") as f:
        f.create_dataset("kspace", data=k)
        f.create_dataset("reconstruction_rss" if multicoil else "reconstruction_esc",
                         data=rng.random((3, 8, 6)).astype(np.float32))
        f.create_dataset("ismrmrd_header", data=np.bytes_(b"<ismrmrdHeader/>"))
        f.attrs["acquisition"] = "AXT2"
        f.attrs["max"] = 0.5
    return k


@pytest.mark.parametrize("multicoil", [False, True])
def test_fastmri_read_and_round_trip(tmp_path, multicoil):
    k = _fastmri_file(tmp_path / "a.h5", multicoil)
    vol = read_fastmri(tmp_path / "a.h5")
    assert vol.multicoil == multicoil and vol.attrs["acquisition"] == "AXT2"
    np.testing.assert_array_equal(vol.kspace, k)
    loaded = load_fastmri(tmp_path / "a.h5")
    assert loaded.array.shape == (3, 1, 8, 6)
    assert loaded.meta["key"] == ("reconstruction_rss" if multicoil else "reconstruction_esc")
    write_fastmri(tmp_path / "b.h5", loaded.array, loaded.meta)
    again = load_fastmri(tmp_path / "b.h5")
    np.testing.assert_array_equal(again.array, loaded.array)
    np.testing.assert_array_equal(again.meta["kspace"], k)
    assert again.meta["ismrmrd_header"] == "<ismrmrdHeader/>" and again.meta["attrs"]["max"] == 0.5


def test_fastmri_without_reconstruction_gives_rss_of_kspace(tmp_path):
    k = np.zeros((1, 2, 4, 4), np.complex64)
    k[0, 0, 2, 2], k[0, 1, 2, 2] = 12.0, 16.0          # DC of the centred 4x4 grid: constant images 3 and 4
    with h5py.File(tmp_path / "k.h5", "w") as f:
        f.create_dataset("kspace", data=k)
    loaded = load_fastmri(tmp_path / "k.h5")
    np.testing.assert_allclose(loaded.array, np.full((1, 1, 4, 4), 5.0), atol=1e-6)   # sqrt(3^2 + 4^2)


def test_fastmri_errors(tmp_path):
    _fastmri_file(tmp_path / "a.h5", True)
    raw = (tmp_path / "a.h5").read_bytes()
    (tmp_path / "t.h5").write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ValueError, match="t.h5"):
        read_fastmri(tmp_path / "t.h5")
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f.create_dataset("kspace", data=np.zeros((4, 4), np.complex64))
    with pytest.raises(ValueError, match=r"w.h5: 'kspace' has shape \(4, 4\)"):
        read_fastmri(tmp_path / "w.h5")
    with h5py.File(tmp_path / "o.h5", "w") as f:
        f.create_dataset("other", data=np.zeros(3))
    with pytest.raises(ValueError, match="o.h5: no 'kspace'"):
        read_fastmri(tmp_path / "o.h5")
    k = np.ones((1, 4, 4), np.complex64)
    k[0, 1, 1] = np.nan
    with h5py.File(tmp_path / "n.h5", "w") as f:
        f.create_dataset("kspace", data=k)
    with pytest.raises(ValueError, match="n.h5: 'kspace' holds 1 NaN"):
        read_fastmri(tmp_path / "n.h5")


def test_ismrmrd_header_errors():
    with pytest.raises(ValueError, match="not valid XML"):
        parse_ismrmrd_header("<broken")
    with pytest.raises(ValueError, match="no encoding/encodedSpace"):
        parse_ismrmrd_header("<ismrmrdHeader/>")


def test_bart_round_trip_is_fortran_order(tmp_path):
    a = (np.arange(24) + 1j * np.arange(24)[::-1]).reshape(1, 2, 3, 4).astype(np.complex64)
    write_cfl(tmp_path / "x", a)
    assert (tmp_path / "x.hdr").read_text().splitlines() == ["# Dimensions", "1 2 3 4 "]
    raw = np.fromfile(tmp_path / "x.cfl", np.complex64)
    np.testing.assert_array_equal(raw, a.ravel(order="F"))          # BART stores column-major
    np.testing.assert_array_equal(read_cfl(tmp_path / "x.cfl"), a)
    np.testing.assert_array_equal(read_cfl(tmp_path / "x.hdr"), a)


def test_bart_errors(tmp_path):
    write_cfl(tmp_path / "x", np.ones((4, 4), np.complex64))
    raw = (tmp_path / "x.cfl").read_bytes()
    (tmp_path / "x.cfl").write_bytes(raw[:-8])
    with pytest.raises(ValueError, match="x.cfl: holds 120 bytes but the header's dims \\[4, 4\\] need 128"):
        read_cfl(tmp_path / "x")
    (tmp_path / "y.hdr").write_text("garbage\n")
    (tmp_path / "y.cfl").write_bytes(b"")
    with pytest.raises(ValueError, match="y.hdr: not a BART header"):
        read_cfl(tmp_path / "y")
    with pytest.raises(FileNotFoundError, match="z.hdr"):
        read_cfl(tmp_path / "z")


def test_npy_round_trip_and_refusals(tmp_path):
    a = np.random.default_rng(0).random((1, 3, 4)).astype(np.float32)
    save_npy(tmp_path / "a.npy", a)
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy").array, a)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="o.npy: refusing to unpickle"):
        load_npy(tmp_path / "o.npy")
    np.save(tmp_path / "n.npy", np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="n.npy"):
        load_npy(tmp_path / "n.npy")


def test_domain_example_round_trips(tmp_path):
    for suffix, loaded in domain.example().items():
        path = tmp_path / f"sample{suffix}"
        domain.write(path, loaded.array, loaded.meta)
        back = domain.read(path)
        np.testing.assert_allclose(back.array, loaded.array, rtol=1e-6, err_msg=suffix)
        if "affine" in loaded.meta:
            np.testing.assert_allclose(back.meta["affine"], loaded.meta["affine"], atol=1e-6)
