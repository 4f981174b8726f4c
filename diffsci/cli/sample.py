"""``diffsci sample``: placeholder until its issue lands (see the issue tracker)."""


def register(sub) -> None:
    p = sub.add_parser("sample", help="(not yet available)")
    p.set_defaults(func=run)


def run(args) -> int:
    raise RuntimeError("diffsci sample is not implemented yet")
