import json

import numpy as np

from diffsci.report import Report


def test_report_rows_json_and_markdown(tmp_path):
    r = Report("demo", "task", data="d", device="cpu", quick=True, command="diffsci evaluate demo task")
    r.add("ours", "4x", "psnr", [30.0, 32.0, np.nan])        # NaN dropped from the statistics
    r.add_row("published_x", "4x", "psnr", 29.5)
    r.notes.append("a note")
    rep = r.write(tmp_path)
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["rows"] == rep["rows"]
    row = r.get("ours", "4x", "psnr")
    assert row["mean"] == 31.0 and row["n"] == 2 and abs(row["std"] - np.sqrt(2)) < 1e-12
    assert {"domain", "task", "command", "device", "data", "quick", "seconds", "rows"} <= set(on_disk)
    md = (tmp_path / "report.md").read_text()
    assert "| 4x | ours | 31 ± 1.414 |" in md and "| 4x | published_x | 29.5 |" in md and "a note" in md
