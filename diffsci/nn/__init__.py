"""diffsci.nn (being built; see the issue tracker)."""
