"""1D biomedical signals: WFDB/EDF/CSV/HDF5 ECG; denoising, beat anomaly and augmentation harnesses (being built)."""

from diffsci.domains import Domain

domain = Domain(name="biosignal", spatial_dims=(1,), description="1D biomedical signals: WFDB/EDF/CSV/HDF5 ECG; denoising, beat anomaly and augmentation harnesses")
