"""MRI file formats: NIfTI (nibabel), fastMRI HDF5 (h5py), BART .cfl/.hdr, NumPy .npy."""

from .arrays import load_npy, save_npy
from .bart import load_cfl, read_cfl, save_cfl, write_cfl
from .fastmri import FastMRIVolume, load_fastmri, parse_ismrmrd_header, read_fastmri, write_fastmri
from .nifti import read_nifti, write_nifti

#: Domain readers and writers by suffix.
READERS = {".nii": read_nifti, ".nii.gz": read_nifti, ".h5": load_fastmri, ".cfl": load_cfl,
           ".hdr": load_cfl, ".npy": load_npy}
WRITERS = {".nii": write_nifti, ".nii.gz": write_nifti, ".h5": write_fastmri, ".cfl": save_cfl,
           ".npy": save_npy}

__all__ = ["read_nifti", "write_nifti", "read_fastmri", "load_fastmri", "write_fastmri", "FastMRIVolume",
           "parse_ismrmrd_header", "read_cfl", "write_cfl", "load_cfl", "save_cfl", "load_npy", "save_npy",
           "READERS", "WRITERS"]
