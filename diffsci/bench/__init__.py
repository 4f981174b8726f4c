"""Benchmarks behind ``diffsci bench``; each module has add_args(parser) and run(args) -> dict."""
