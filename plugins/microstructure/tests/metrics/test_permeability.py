import warnings

import numpy as np
import pytest

from diffsci_microstructure.metrics import MILLIDARCY, permeability
from diffsci_microstructure.metrics.permeability import spanning_axes


@pytest.mark.slow
def test_straight_tube_against_hagen_poiseuille():
    # K = pi R^4 / (8 A) for one tube of radius R in a box of cross-section A (Hagen-Poiseuille + Darcy)
    R, n, L, voxel = 6, 20, 64, 2e-6
    g = np.indices((L, n, n)).astype(float)
    c = (n - 1) / 2
    tube = (g[1] - c) ** 2 + (g[2] - c) ** 2 <= R ** 2
    r_eff = np.sqrt(tube[0].sum() / np.pi)                      # radius of the digitised cross-section
    exact = np.pi * (r_eff * voxel) ** 4 / 8 / (n * voxel) ** 2 / MILLIDARCY
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    k = permeability(tube, voxel)
    # SNOW2 raises the OpenMP thread count; permeability() restores torch's (a harness samples afterwards)
    assert torch.get_num_threads() == threads
    assert 0.95 < k["per_axis"][0] / exact < 1.35               # a pore network's square-duct conduits
    assert k["per_axis"][1] == 0 and k["per_axis"][2] == 0      # no path across the tube
    # K scales with the square of the voxel size
    assert permeability(tube, 2 * voxel, axes=(0,))["mean"] == pytest.approx(4 * k["per_axis"][0], rel=1e-9)


@pytest.mark.slow
def test_coordination_of_a_cubic_lattice():
    # 3 x 3 x 3 spheres joined by rods along the lattice lines: 27 pores, 54 throats, mean coordination
    # 2 * 54 / 27 = 4 (corners 3, edges 4, faces 5, the centre 6), no isolated pore; one sphere cut off -> isolated
    n, sp, R, r = 48, 16, 5.5, 2.0
    z, y, x = np.mgrid[:n, :n, :n] + 0.5
    c = np.arange(sp / 2, n, sp)
    im = np.zeros((n, n, n), bool)
    for cz in c:
        for cy in c:
            for cx in c:
                im |= (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 <= R ** 2
    for a, b in ((y, x), (z, x), (z, y)):
        for ca in c:
            for cb in c:
                im |= (a - ca) ** 2 + (b - cb) ** 2 <= r ** 2
    k = permeability(im, 1e-6)
    assert (k["pores"], k["throats"]) == (27, 54) and k["coordination"] == pytest.approx(4.0) and k["isolated"] == 0
    assert min(k["per_axis"]) > 0
    ball = (z - 8) ** 2 + (y - 8) ** 2 + (x - 8) ** 2 <= R ** 2
    cut = im & ~(((z - 8) ** 2 + (y - 8) ** 2 + (x - 8) ** 2 <= (R + 1.5) ** 2) & ~ball)   # a moat around one corner
    k = permeability(cut, 1e-6)
    assert k["isolated"] == pytest.approx(1 / k["pores"]) and k["coordination"] < 4.0


def test_pores_without_throats_are_impermeable_not_a_failure():
    # two isolated cubes: SNOW2/openpnm cannot build a network without throats; no cluster spans a pair of faces,
    # so the volume is 0 mD on every axis (not left out of a set's mean)
    im = np.zeros((32, 32, 32), bool)
    im[5:9, 5:9, 5:9] = True
    im[20:24, 20:24, 20:24] = True
    k = permeability(im, 1e-6)
    assert k["per_axis"] == [0.0, 0.0, 0.0] and k["mean"] == 0.0 and np.isnan(k["coordination"])
    assert spanning_axes(im) == [False, False, False]
    im[:, 6, 6] = True                                          # a channel along axis 0 spans its two faces
    assert spanning_axes(im) == [True, False, False]


def test_bad_inputs():
    with pytest.raises(ValueError, match="voxel_size"):
        permeability(np.ones((4, 4, 4), bool), 0)
    with pytest.raises(ValueError, match="3D"):
        permeability(np.ones((4, 4), bool), 1e-6)
    assert permeability(np.zeros((8, 8, 8), bool), 1e-6)["mean"] == 0


def test_a_voxel_size_outside_pore_scale_warns_that_it_is_metres():
    empty = np.zeros((8, 8, 8), bool)
    for bad in (5.345, 1e-10):                                  # micrometres typed as metres; a unit slip below
        with pytest.warns(RuntimeWarning, match=f"voxel_size {bad:g} is in metres"):
            permeability(empty, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        permeability(empty, 5.345e-6)


@pytest.mark.slow
def test_a_failed_chunked_watershed_falls_back_to_the_serial_one(monkeypatch):
    ps = pytest.importorskip("porespy")
    real_snow2, seen = ps.networks.snow2, []

    def snow2(im, **kw):
        seen.append(kw.get("parallel_kw", "default"))
        if len(seen) == 1:                                      # porespy 3.2's stitching error
            raise Exception("The selected overlapping thickness is not suitable for input image.")
        return real_snow2(im, **kw)
    monkeypatch.setattr(ps.networks, "snow2", snow2)
    g = np.indices((32, 12, 12)).astype(float)
    tube = (g[1] - 5.5) ** 2 + (g[2] - 5.5) ** 2 <= 16
    k = permeability(tube, 2e-6, axes=(0,))
    assert seen == ["default", None] and k["mean"] > 0

    def other(im, **kw):                                        # any other error is not swallowed
        raise Exception("something else")
    monkeypatch.setattr(ps.networks, "snow2", other)
    with pytest.raises(Exception, match="something else"):
        permeability(tube, 2e-6, axes=(0,))
