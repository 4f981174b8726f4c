"""k-space: centred FFTs, sampling masks, coil sensitivities."""

from .coils import absorb_phase, calibration_region, espirit_maps, lowres_maps, sense_combine
from .fft import fft2c, ifft2c, rss
from .masks import (CENTER_FRACTIONS, acceleration_of, cartesian_mask, column_mask_2d, equispaced_mask_1d,
                    poisson_mask_2d, random_mask_1d)

__all__ = ["fft2c", "ifft2c", "rss", "espirit_maps", "lowres_maps", "absorb_phase", "sense_combine",
           "calibration_region", "CENTER_FRACTIONS", "random_mask_1d", "equispaced_mask_1d", "cartesian_mask",
           "column_mask_2d", "poisson_mask_2d", "acceleration_of"]
