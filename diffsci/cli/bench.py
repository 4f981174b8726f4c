"""``diffsci bench NAME [--out FILE] [--device D]``: benchmarks that print (and write) JSON."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from . import add_device_arg

#: benchmark name -> module with ``add_args(parser)`` and ``run(args) -> dict``
BENCHES = {"backbone": "diffsci.bench.backbone", "likelihood": "diffsci.bench.likelihood",
           "inverse": "diffsci.bench.inverse"}


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark and print JSON")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    for name, module in BENCHES.items():
        mod = importlib.import_module(module)
        bp = bsub.add_parser(name, help=(mod.__doc__ or "").strip().split("\n")[0])
        bp.add_argument("--out", default=None, help="also write the JSON to this file")
        add_device_arg(bp)
        mod.add_args(bp)
        bp.set_defaults(func=lambda args, mod=mod: _run(mod, args))


def _run(mod, args) -> int:
    result = mod.run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return 0
