"""``diffsci demo [DOMAIN]``: the embedded default of a domain, end to end, with no download."""

from __future__ import annotations

import json
from pathlib import Path

from . import add_device_arg


def register(sub) -> None:
    p = sub.add_parser("demo", help="run a domain's embedded default end to end (no download)")
    p.add_argument("domain", nargs="?", default="synthetic", help="domain name (default: synthetic)")
    p.add_argument("--out", default=None, help="output folder (default: runs/demo-DOMAIN)")
    p.add_argument("--quick", action="store_true", help="an even smaller run (seconds), used by the tests")
    add_device_arg(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..domains import get_domain
    domain = get_domain(args.domain)
    if domain.demo is None:
        raise ValueError(f"domain '{domain.name}' has no demo")
    out = Path(args.out or f"runs/demo-{domain.name}")
    summary = domain.demo(out, args.device, args.quick)
    print(json.dumps(summary, indent=2, default=str))
    return 0
