"""``diffsci`` command line: train | sample | reconstruct | score | evaluate | bench | demo | domains.

Each subcommand lives in its own module with ``register(subparsers)``, which adds a parser whose
``func(args)`` runs it. Errors that a user can fix (bad config, missing file, wrong shape) print one
clear message and exit with status 2, never a traceback from deep inside torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = ("train", "sample", "reconstruct", "score", "evaluate", "bench", "demo", "domains")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diffsci", description=__doc__.splitlines()[0])
    parser.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"diffsci.cli.{name}").register(sub)
    return parser


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.extra = rest
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError, KeyError) as e:
        if args.traceback:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"diffsci {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
