"""Benchmark 'backbone': placeholder until its issue lands."""


def add_args(parser) -> None:
    pass


def run(args) -> dict:
    raise RuntimeError("diffsci bench backbone is not implemented yet")
