"""Sample outputs: .npy / .h5 round trips with metadata, PNG figures for 1D, 2D and 3D, clear errors."""

import numpy as np
import pytest

from diffsci.io import load_array, save_array, save_figure, save_samples

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("suffix", [".npy", ".h5", ".hdf5"])
def test_round_trip(tmp_path, suffix):
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 4)).astype(np.float32)
    meta = {"sampler": "heun", "steps": 32, "guidance": 1.5, "ema": True, "scalars": [0.1, 0.2],
            "nested": {"a": 1}}
    save_array(tmp_path / f"a{suffix}", x, meta)
    back, m = load_array(tmp_path / f"a{suffix}")
    assert back.dtype == x.dtype
    np.testing.assert_array_equal(back, x)
    assert m == ({} if suffix == ".npy" else meta)


@pytest.mark.parametrize("shape", [(5, 1, 64), (5, 2, 8, 12), (2, 1, 6, 8, 10)])
def test_figures(tmp_path, shape):
    x = np.random.default_rng(0).standard_normal(shape)
    files = save_samples(tmp_path / "s.npy", x, title="t")
    assert [f.name for f in files] == ["s.npy", "s.png"]
    assert files[1].read_bytes()[:8] == PNG and files[1].stat().st_size > 2000


def test_errors(tmp_path):
    with pytest.raises(ValueError, match=r"x\.txt: unsupported output format"):
        save_array(tmp_path / "x.txt", np.zeros((1, 1, 2)))
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_array(tmp_path / "missing.h5")
    (tmp_path / "bad.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"bad\.h5: not a readable HDF5 file"):
        load_array(tmp_path / "bad.h5")
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(ValueError, match=r"bad\.npy: not a readable \.npy"):
        load_array(tmp_path / "bad.npy")
    with pytest.raises(ValueError, match="1 to 3 spatial axes"):
        save_figure(tmp_path / "f.png", np.zeros((2, 3)))


def test_open_hdf5_names_the_file_and_lists_nested_datasets(tmp_path):
    import h5py
    from diffsci.io import hdf5_datasets, open_hdf5
    with pytest.raises(FileNotFoundError, match=r"none\.h5: no such file"):
        open_hdf5(tmp_path / "none.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match=r"junk\.h5: not a readable HDF5 file \(truncated or corrupt\?\)"):
        open_hdf5(tmp_path / "junk.h5", hint="truncated or corrupt?")
    with h5py.File(tmp_path / "ok.h5", "w") as f:
        f["a"] = np.zeros(2)
        f.create_group("g")["b"] = np.ones(3)
    with open_hdf5(tmp_path / "ok.h5") as f:
        assert sorted(hdf5_datasets(f)) == ["a", "g/b"] and f.mode == "r"
