"""Array datasets, patching and normalisation contracts."""

from .arrays import ArrayDataset

__all__ = ["ArrayDataset"]
