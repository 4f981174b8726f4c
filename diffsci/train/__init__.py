"""diffsci.train (being built; see the issue tracker)."""
