"""`diffsci demo microstructure --quick`: the embedded default runs end to end with no download."""

import json

import pytest

from diffsci_microstructure.demo import demo


@pytest.mark.slow
def test_demo_quick_runs_end_to_end_without_data(tmp_path):
    # the demo builds its own harness arguments (argparse.Namespace): an option added to the harness must keep a
    # default there, as --save-volumes once did not
    summary = demo(tmp_path / "demo", device="cpu", quick=True)
    for f in summary["files"]:
        assert (tmp_path / "demo" / f).exists(), f
    assert json.loads((tmp_path / "demo" / "summary.json").read_text())["domain"] == "microstructure"
    assert sorted(p.name for p in (tmp_path / "demo" / "generation").glob("generated_*")) == \
        ["generated_000.tif", "generated_001.tif"]                  # the harness's default of two volumes
    assert summary["reconstruction_slice_mismatch"] == 0            # the given slice is kept exactly
    assert 0.2 < summary["porosity"]["real"] < 0.4 and summary["permeability_md"]["real"] > 0
