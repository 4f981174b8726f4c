"""Porous-media microstructures: TIFF/raw/HDF5 volumes; porosity-conditioned generation and morphology harness (being built)."""

from diffsci.domains import Domain

domain = Domain(name="microstructure", spatial_dims=(2, 3), description="Porous-media microstructures: TIFF/raw/HDF5 volumes; porosity-conditioned generation and morphology harness")
