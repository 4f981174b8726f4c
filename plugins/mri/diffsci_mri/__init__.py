"""MRI volumes: NIfTI, fastMRI HDF5 and BART k-space; reconstruction and anomaly harnesses (being built)."""

from diffsci.domains import Domain

domain = Domain(name="mri", spatial_dims=(2, 3), description="MRI volumes: NIfTI, fastMRI HDF5 and BART k-space; reconstruction and anomaly harnesses")
