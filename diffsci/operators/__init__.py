"""diffsci.operators (being built; see the issue tracker)."""
