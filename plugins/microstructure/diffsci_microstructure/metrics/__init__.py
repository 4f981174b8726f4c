"""Morphology and transport metrics of porous media (pore masks: True = pore)."""

from .correlation import S2, lag_correlation, s2_mae_rel, two_point_correlation
from .distributions import Distribution, chord_length_distribution, pore_size_distribution
from .morphology import euler_density, interface_phase_density, porosity, specific_surface
from .permeability import MILLIDARCY, permeability

__all__ = ["porosity", "specific_surface", "euler_density", "interface_phase_density", "two_point_correlation", "S2", "s2_mae_rel",
           "lag_correlation",
           "chord_length_distribution", "pore_size_distribution", "Distribution", "permeability", "MILLIDARCY"]
