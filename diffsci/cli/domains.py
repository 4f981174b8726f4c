"""``diffsci domains``: list the installed domain plugins and what each offers."""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("domains", help="list installed domains (entry-point group diffsci.domains)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..domains import available_domains
    info = {name: {"spatial_dims": list(d.spatial_dims), "description": d.description,
                   "harnesses": sorted(d.harnesses), "readers": sorted(d.readers),
                   "writers": sorted(d.writers), "demo": d.demo is not None,
                   "version": d.metadata.get("version")}
            for name, d in available_domains().items()}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for name, d in info.items():
        print(f"{name:16s} {'/'.join(f'{k}D' for k in d['spatial_dims']):8s} {d['description']}")
        if d["harnesses"]:
            print(f"{'':16s} evaluate: {', '.join(d['harnesses'])}")
        if d["readers"]:
            print(f"{'':16s} reads: {' '.join(d['readers'])}")
    return 0
