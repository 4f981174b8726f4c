"""Array datasets, patching and normalisation contracts."""

from .arrays import ArrayDataset
from .measurements import MeasurementDataset, measurement_channels

__all__ = ["ArrayDataset", "MeasurementDataset", "measurement_channels"]
