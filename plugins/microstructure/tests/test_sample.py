"""``diffsci evaluate microstructure sample``: volumes of any size to files, with their morphology."""

import json

import numpy as np
import pytest

from diffsci.cli import main
from diffsci_microstructure.io import read_volume


def test_sample_writes_larger_volumes_in_the_chosen_format(tmp_path, blobs_prior, capsys):
    out = tmp_path / "s"
    rc = main(["evaluate", "microstructure", "sample", "--checkpoint", str(blobs_prior), "--n", "2", "--size",
               "20,16,24", "--porosity", "0.3", "--steps", "3", "--format", "h5", "--voxel-size", "4e-6",
               "--no-progress", "--out", str(out), "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["volumes"] == ["sample_000.h5", "sample_001.h5"] and (out / "samples.png").exists()
    vols = [read_volume(out / f) for f in report["volumes"]]
    for v in vols:                                 # 0 = pore, 255 = grain (the default coding); 16^3 tiles
        assert v.array.shape == (1, 20, 16, 24) and set(np.unique(v.array)) <= {0, 255}
        assert v.meta["voxel_size"] == pytest.approx(4e-6)
    rows = {r["metric"]: r for r in report["rows"]}
    phi = [float((v.array == 0).mean()) for v in vols]
    assert rows["porosity"]["mean"] == pytest.approx(np.mean(phi)) and rows["porosity"]["n"] == 2
    assert rows["control_error"]["mean"] == pytest.approx(np.mean(np.abs(np.array(phi) - 0.3)))
    assert report["settings"]["tile"] == 16 and report["settings"]["shape"] == [20, 16, 24]


@pytest.mark.parametrize("argv, match", [
    (["--size", "8,8"], "the prior is 3D"),
    (["--porosity", "1.5"], r"lies in \(0, 1\)"),
    (["--format", "png"], "choose one of"),
    (["--specific-surface", "0.1", "--porosity", "0.3"], "takes 1 scalar condition"),
])
def test_sample_errors(tmp_path, blobs_prior, argv, match, capsys):
    import re
    rc = main(["evaluate", "microstructure", "sample", "--checkpoint", str(blobs_prior), "--steps", "1",
               "--no-progress", "--out", str(tmp_path / "e"), "--device", "cpu", *argv])
    assert rc == 2 and re.search(match, capsys.readouterr().err)
