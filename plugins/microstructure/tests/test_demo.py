"""`diffsci demo microstructure --quick`: the embedded default runs end to end with no download."""

import json

import pytest

from diffsci_microstructure.demo import demo, harness_args


def test_demo_arguments_start_from_the_harness_parser(tmp_path):
    args = harness_args("generation", tmp_path, n=3)
    assert args.n == 3 and args.save_volumes == 2 and args.weights == "ema" and args.out == str(tmp_path)
    assert not hasattr(harness_args("reconstruction", tmp_path), "targets") and \
        harness_args("reconstruction", tmp_path).slices == "0:mid"
    with pytest.raises(TypeError, match="no option.*n_volumes"):
        harness_args("generation", tmp_path, n_volumes=3)


@pytest.mark.slow
def test_demo_quick_runs_end_to_end_without_data(tmp_path):
    # the demo's harness arguments start from the harness parser's defaults (--save-volumes once had none here)
    summary = demo(tmp_path / "demo", device="cpu", quick=True)
    for f in summary["files"]:
        assert (tmp_path / "demo" / f).exists(), f
    assert json.loads((tmp_path / "demo" / "summary.json").read_text())["domain"] == "microstructure"
    assert sorted(p.name for p in (tmp_path / "demo" / "generation").glob("generated_*")) == \
        ["generated_000.tif", "generated_001.tif"]                  # the harness's default of two volumes
    assert summary["reconstruction_slice_mismatch"] == 0            # the given slice is kept exactly
    assert 0.2 < summary["porosity"]["real"] < 0.4 and summary["permeability_md"]["real"] > 0
