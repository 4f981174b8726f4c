"""diffsci.likelihood (being built; see the issue tracker)."""
