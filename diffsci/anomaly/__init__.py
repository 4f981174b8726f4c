"""diffsci.anomaly (being built; see the issue tracker)."""
