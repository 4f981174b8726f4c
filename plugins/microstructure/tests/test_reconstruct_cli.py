"""``diffsci reconstruct`` with a microstructure prior: a 2D slice file in, volumes consistent with it out."""

import numpy as np
import pytest

from diffsci.cli import main
from diffsci_microstructure.io import read_volume, write_volume


def test_a_coded_slice_file_gives_volumes_that_keep_it_in_the_files_coding(tmp_path, blobs_prior, capsys):
    rng = np.random.default_rng(0)
    coded = np.where(rng.random((1, 8, 8)) < 0.3, 0, 255).astype(np.uint8)     # 0 = pore, 255 = grain
    write_volume(tmp_path / "slice.tif", coded, {"voxel_size": 5e-6})
    rc = main(["reconstruct", "--checkpoint", str(blobs_prior), "--operator", "plane:axis=0", "--measurement",
               str(tmp_path / "slice.tif"), "--shots", "2", "--steps", "3", "--out", str(tmp_path / "o"),
               "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    # one TIFF per sample (the TIFF writer takes one volume), each in the slice file's coding
    samples = np.stack([read_volume(tmp_path / "o" / f"samples_{k:03d}.tif").array for k in range(2)])
    assert samples.shape == (2, 1, 8, 8, 8) and set(np.unique(samples)) <= {0, 255}
    assert read_volume(tmp_path / "o" / "samples_000.tif").meta["voxel_size"] == pytest.approx(5e-6)
    for s in samples:                                     # the middle plane is the given slice, in its coding
        np.testing.assert_array_equal(s[0, 4], coded[0])
    mean = read_volume(tmp_path / "o" / "mean.tif").array  # model units: +1 where every sample is pore
    np.testing.assert_allclose(mean[0, 4], np.where(coded[0] == 0, 1.0, -1.0))
