"""``diffsci evaluate <domain> <task> --data PATH --out DIR [--quick] [--device ...]``: run a domain harness."""

from __future__ import annotations

import argparse

from . import add_device_arg


def register(sub) -> None:
    p = sub.add_parser("evaluate", help="run a domain's evaluation harness and write DIR/report.{json,md}",
                       add_help=False)
    p.add_argument("domain", nargs="?")
    p.add_argument("task", nargs="?")
    p.add_argument("-h", "--help", action="store_true")
    p.set_defaults(func=run, accepts_extra=True)


def harness_parser(domain, task: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"diffsci evaluate {domain.name} {task}",
                                description=(domain.harnesses[task].__doc__ or "").strip().split("\n")[0])
    without = set(getattr(domain.harnesses[task], "without_options", ()))
    if "data" in without:                   # the task reads a checkpoint or a record: refuse --data, don't ignore it
        p.set_defaults(data=None)
    else:
        p.add_argument("--data", default=None, help="data folder or file (default: the domain's documented default)")
    p.add_argument("--out", required=True, help="output folder for report.json, report.md and figures")
    if "quick" in without:
        p.set_defaults(quick=False)
    else:
        p.add_argument("--quick", action="store_true", help="small model and few steps: finishes in minutes on CPU")
    p.add_argument("--seed", type=int, default=0)
    add_device_arg(p)
    if domain.add_harness_args is not None:
        domain.add_harness_args(task, p)
    return p


def run(args) -> int:
    from ..domains import available_domains, get_domain
    if args.domain is None:
        lines = [f"  {n} {t}" for n, d in available_domains().items() for t in d.harnesses]
        print("usage: diffsci evaluate DOMAIN TASK --out DIR [--data PATH] [--quick] [--device D]\n"
              "harnesses:\n" + ("\n".join(lines) or "  (none installed)"))
        return 0 if args.help else 2
    domain = get_domain(args.domain)
    if args.task not in domain.harnesses:
        raise ValueError(f"domain '{domain.name}' has no harness '{args.task}'; "
                         f"available: {', '.join(sorted(domain.harnesses)) or 'none'}")
    hargs = harness_parser(domain, args.task).parse_args(args.extra + (["-h"] if args.help else []))
    report = domain.harnesses[args.task](hargs)
    print(f"wrote {hargs.out}/report.json ({len(report.get('rows', []))} rows) and report.md")
    return 0
