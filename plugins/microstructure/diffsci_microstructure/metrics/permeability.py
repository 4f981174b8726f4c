r"""Absolute permeability through an extracted pore network: porespy SNOW2 + openpnm Stokes flow.

Steps: SNOW2 (Gostick 2017) partitions the pore space into pores and throats, with boundary pores on
the faces of the volume; each conduit (half pore, throat, half pore) gets a hydraulic conductance from
openpnm's "pyramids and cuboids" size factors (pore size: the volume-equivalent diameter, throat size:
the inscribed diameter, as in openpnm's network-extraction example); a Stokes-flow solve with unit
pressure drop between opposite faces gives the flow rate Q, and Darcy's law the permeability

.. math:: K = \frac{Q \mu L}{A \Delta P}.

The network is built in voxel units (conductances of order 1 keep the linear system well conditioned,
which openpnm's default iterative solver needs) and solved with a direct solver; K in m^2 is then
K_voxel * voxel_size^2, reported in millidarcy (1 mD = 9.869233e-16 m^2).

Check against a closed form (tests/metrics/test_permeability.py): a straight cylindrical tube of radius R
in a box of side n has K = pi R^4 / (8 n^2) (Hagen-Poiseuille); this estimate is within +7 % to +26 % of
it for R = 5-8 voxels (the network model's square-duct conduits and its boundary pores). A pore network
is a coarse model of Stokes flow in the voxels: on real rocks it differs from a direct (finite-difference
or lattice-Boltzmann) solve by a factor of order 1-3, so compare permeabilities computed the same way.
"""

from __future__ import annotations

import logging
import sys
import warnings

import numpy as np

from .morphology import _mask

__all__ = ["permeability", "spanning_axes", "MILLIDARCY", "VOXEL_RANGE"]

#: 1 millidarcy in m^2
MILLIDARCY = 9.869233e-16
#: Plausible voxel sizes (m) of a pore-scale image; outside them :func:`permeability` warns (a unit slip)
VOXEL_RANGE = (1e-9, 1e-3)
_FACES = {0: ("xmin", "xmax"), 1: ("ymin", "ymax"), 2: ("zmin", "zmax")}


def permeability(pore, voxel_size: float, *, axes=(0, 1, 2), boundary_width: int = 3) -> dict:
    """Permeability (mD) of a 3D pore mask along each of ``axes`` and their mean.

    Args:
        pore: (D, H, W) bool, True = pore.
        voxel_size: edge of a voxel in metres (e.g. 5.345e-6 for the Imperial College Berea image); a
            RuntimeWarning outside 1e-9..1e-3 m (micrometres typed as metres).
        axes: flow directions (0, 1, 2 = the array axes).

    Returns:
        {"per_axis": [K_0, ...] in mD (0 where no pore path connects the two faces), "mean": mean over
        axes, "pores": number of network pores, "throats": number of throats, "coordination": mean
        coordination number 2 throats / pores (before isolated pores are trimmed), "isolated": fraction of
        pores with no throat}. The last two tell a network with too few connections (low permeability at
        the right porosity and pore size) from one with too narrow throats.
    """
    import openpnm as op
    import porespy as ps
    a = _mask(pore)
    if a.ndim != 3:
        raise ValueError(f"permeability needs a 3D pore mask, got shape {a.shape}")
    if not voxel_size or voxel_size <= 0:
        raise ValueError(f"voxel_size must be a positive length in metres, got {voxel_size}")
    if not VOXEL_RANGE[0] <= voxel_size <= VOXEL_RANGE[1]:
        warnings.warn(f"voxel_size {voxel_size:g} is in metres: {voxel_size:g} m is outside the {VOXEL_RANGE[0]:g}-"
                      f"{VOXEL_RANGE[1]:g} m of micro-CT and SEM images, so the permeability (which scales with "
                      "its square) is probably off by orders of magnitude; a 5.345 um voxel is 5.345e-6",
                      RuntimeWarning, stacklevel=2)
    ps.settings.tqdm["disable"] = True
    for name in ("openpnm", "porespy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if not a.any():
        return {"per_axis": [0.0] * len(axes), "mean": 0.0, "pores": 0, "throats": 0, "coordination": 0.0,
                "isolated": 0.0}
    # SNOW2 raises the process's OpenMP thread count (torch.get_num_threads() goes from 1 to porespy's
    # ncores), which made every later network call of a harness ~25x slower on a loaded 2-core machine:
    # put torch's setting back afterwards.
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        return _permeability(a, voxel_size, axes, boundary_width, op, ps)
    except (IndexError, KeyError):
        # SNOW2 (label_boundaries) and openpnm (size factors) fail on networks without throats. Where no pore
        # cluster joins two opposite faces the answer is known without them: no flow, 0 mD on every axis (a
        # volume left out instead would raise the mean of a set). Otherwise the failure is real: re-raised.
        if any(spanning_axes(a, axes)):
            raise
        return {"per_axis": [0.0] * len(axes), "mean": 0.0, "pores": None, "throats": None,
                "coordination": float("nan"), "isolated": float("nan")}
    finally:
        if threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def spanning_axes(pore: np.ndarray, axes=(0, 1, 2)) -> list[bool]:
    """For each axis, whether one face-connected pore cluster touches both of its end faces (flow needs that).

    >>> a = np.zeros((4, 4, 4), bool); a[:, 1, 1] = True
    >>> spanning_axes(a)
    [True, False, False]
    """
    from scipy import ndimage
    labels, _ = ndimage.label(pore)                      # 6-connectivity in 3D: voxels sharing a face
    out = []
    for ax in axes:
        first, last = np.take(labels, 0, axis=ax), np.take(labels, -1, axis=ax)
        out.append(bool(np.intersect1d(first[first > 0], last[last > 0]).size))
    return out


def _permeability(a, voxel_size, axes, boundary_width, op, ps) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            snow = ps.networks.snow2(a, voxel_size=1.0, boundary_width=boundary_width)
        except Exception as e:                        # porespy 3.2's chunked watershed can fail to stitch its
            if "overlapping thickness" not in str(e):  # chunks ("overlapping thickness is not suitable"):
                raise                                  # the serial watershed is the same algorithm, unchunked
            snow = ps.networks.snow2(a, voxel_size=1.0, boundary_width=boundary_width, parallel_kw=None)
        net = op.io.network_from_porespy(snow.network)
        net["pore.diameter"] = net["pore.equivalent_diameter"]
        net["throat.diameter"] = net["throat.inscribed_diameter"]
        net["throat.spacing"] = net["throat.total_length"]
        net.add_model(propname="throat.hydraulic_size_factors",
                      model=op.models.geometry.hydraulic_size_factors.pyramids_and_cuboids)
        net.regenerate_models()
        n_pores, n_throats = int(net.Np), int(net.Nt)
        degree = np.bincount(net["throat.conns"].ravel(), minlength=n_pores)
        health = op.utils.check_network_health(net)
        if len(health["disconnected_pores"]):
            op.topotools.trim(network=net, pores=health["disconnected_pores"])
        fluid = op.phase.Phase(network=net)
        fluid["pore.viscosity"] = 1.0
        fluid.add_model(propname="throat.hydraulic_conductance",
                        model=op.models.physics.hydraulic_conductance.generic_hydraulic)
        fluid.regenerate_models()
        out = []
        for ax in axes:
            inlet, outlet = (net.pores(f) for f in _FACES[ax])
            both = np.intersect1d(inlet, outlet)          # a pore labelled on both faces carries no gradient
            inlet, outlet = np.setdiff1d(inlet, both), np.setdiff1d(outlet, both)
            if len(inlet) == 0 or len(outlet) == 0:
                out.append(0.0)
                continue
            sf = op.algorithms.StokesFlow(network=net, phase=fluid)
            sf.set_value_BC(pores=inlet, values=1.0)
            sf.set_value_BC(pores=outlet, values=0.0)
            sf.run(solver=op.solvers.ScipySpsolve())
            q = abs(float(sf.rate(pores=inlet, mode="group")[0]))
            length, area = a.shape[ax], a.size / a.shape[ax]
            k = q * length / area * voxel_size ** 2                   # Darcy, mu = dP = 1 (voxel units)
            out.append(k / MILLIDARCY)
    return {"per_axis": out, "mean": float(np.mean(out)), "pores": n_pores, "throats": n_throats,
            "coordination": 2.0 * n_throats / n_pores if n_pores else 0.0,
            "isolated": float((degree == 0).mean()) if n_pores else 0.0}
