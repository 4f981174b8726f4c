"""diffsci.metrics (being built; see the issue tracker)."""
