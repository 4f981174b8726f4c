"""Benchmark 'likelihood': placeholder until its issue lands."""


def add_args(parser) -> None:
    pass


def run(args) -> dict:
    raise RuntimeError("diffsci bench likelihood is not implemented yet")
