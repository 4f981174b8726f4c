"""The report every harness writes: DIR/report.json (tidy rows), DIR/report.md and PNG figures.

One row per (method, setting, metric) with mean, std and n, so that any table or plot is a
group-by away. Published reference figures are rows whose method starts with ``published_``.
"""

from __future__ import annotations

import json
import math
import platform
import shlex
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Report"]


class Report:
    """Collects rows while a harness runs, then writes report.json and report.md.

    >>> r = Report("synthetic", "demo", data="(generated)", device="cpu", quick=True)
    >>> r.add("ours", "1d", "mse", [1.0, 3.0, 2.0])
    >>> r.rows[0]["mean"], r.rows[0]["std"], r.rows[0]["n"]
    (2.0, 1.0, 3)
    """

    def __init__(self, domain: str, task: str, *, data: str, device: str, quick: bool,
                 command: str | None = None):
        self.domain, self.task, self.data, self.device, self.quick = domain, task, data, str(device), quick
        self.command = command if command is not None else "diffsci " + shlex.join(sys.argv[1:])
        self.rows: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.notes: list[str] = []
        self.figures: list[str] = []
        self._t0 = time.perf_counter()

    def add(self, method: str, setting: str, metric: str, values) -> None:
        """Add a row from per-sample values (mean, sample std with ddof=1 where n > 1, n)."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        v = v[np.isfinite(v)] if v.size else v
        n = int(v.size)
        mean = float(v.mean()) if n else math.nan
        std = float(v.std(ddof=1)) if n > 1 else 0.0
        self.add_row(method, setting, metric, mean, std, n)

    def add_row(self, method: str, setting: str, metric: str, mean: float, std: float | None = None,
                n: int | None = None) -> None:
        self.rows.append({"method": method, "setting": setting, "metric": metric,
                          "mean": float(mean), "std": None if std is None else float(std),
                          "n": None if n is None else int(n)})

    def get(self, method: str, setting: str, metric: str) -> dict | None:
        for r in self.rows:
            if (r["method"], r["setting"], r["metric"]) == (method, setting, metric):
                return r
        return None

    def write(self, out_dir: str | Path) -> dict:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        report = {"domain": self.domain, "task": self.task, "command": self.command, "device": self.device,
                  "data": self.data, "quick": self.quick, "seconds": round(time.perf_counter() - self._t0, 2),
                  "host": {"python": platform.python_version(), "machine": platform.machine(),
                           "processor": platform.processor() or platform.machine()},
                  "rows": self.rows, "figures": self.figures, "notes": self.notes, **self.extra}
        tmp = out / "report.json.tmp"
        tmp.write_text(json.dumps(report, indent=2, default=_jsonable))
        tmp.replace(out / "report.json")
        (out / "report.md").write_text(self.markdown(report))
        return report

    def markdown(self, report: dict) -> str:
        lines = [f"# {self.domain} / {self.task}", "",
                 f"- command: `{report['command']}`", f"- data: {self.data}", f"- device: {self.device}",
                 f"- quick: {self.quick}", f"- seconds: {report['seconds']}", ""]
        metrics = list(dict.fromkeys(r["metric"] for r in self.rows))
        table: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for r in self.rows:
            cell = _fmt(r["mean"]) + (f" ± {_fmt(r['std'])}" if r["std"] else "")
            table[(r["setting"], r["method"])][r["metric"]] = cell
        if table:
            lines += ["| setting | method | " + " | ".join(metrics) + " |",
                      "|---|---|" + "---|" * len(metrics)]
            for (setting, method), cells in sorted(table.items()):
                lines.append(f"| {setting} | {method} | " + " | ".join(cells.get(m, "") for m in metrics) + " |")
            lines.append("")
        ns = sorted({r["n"] for r in self.rows if r["n"]})
        if ns:
            lines += [f"n (samples per row): {', '.join(map(str, ns))}", ""]
        for f in self.figures:
            lines += [f"![{Path(f).stem}]({f})", ""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.4g}"


def _jsonable(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
