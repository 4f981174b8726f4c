import numpy as np
import pytest

import diffsci_microstructure.evaluation as evaluation
from diffsci_microstructure.evaluation import compare, describe


def _blobs(n, seed):
    import porespy as ps
    return np.stack([ps.generators.blobs((24, 24, 24), porosity=0.3, blobiness=1.5, seed=seed + i) for i in range(n)])


def test_a_failed_pore_network_loses_only_its_own_volume(monkeypatch):
    vols = _blobs(3, 0)
    calls = []

    def permeability(v, voxel_size):
        calls.append(1)
        if len(calls) == 2:                                    # porespy/openpnm raise bare Exceptions
            raise Exception("The selected overlapping thickness is not suitable for input image.")
        return {"per_axis": [100.0 * len(calls)] * 3, "coordination": 3.0}
    monkeypatch.setattr(evaluation, "permeability", permeability)
    with pytest.warns(RuntimeWarning, match="permeability of volume 1 .*left out"):
        st = describe(vols, voxel_size=5e-6, with_distributions=False)
    assert np.isnan(st.values["permeability_md"][1]) and np.isnan(st.values["coordination"][1])
    np.testing.assert_array_equal(st.values["coordination"][[0, 2]], [3.0, 3.0])
    np.testing.assert_allclose(st.values["permeability_md"][[0, 2]], [100.0, 300.0])
    # the comparison averages the volumes that have a value: real mean 200 +- 141, generated 200
    c = compare(st, st)
    assert c["permeability_md_rel_error"] == 0.0 and c["permeability_within_real_std"] == 1.0


def test_matched_floor_gives_each_real_volume_the_nearest_unused_cube(monkeypatch):
    rng = np.random.default_rng(0)
    pool = np.stack([rng.random((12, 12, 12)) < p for p in (0.10, 0.31, 0.29, 0.50, 0.30)])
    real_vols = np.stack([rng.random((12, 12, 12)) < p for p in (0.30, 0.30, 0.12)])
    monkeypatch.setattr(evaluation, "random_subvolumes", lambda region, size, n, seed, spatial_dims: pool)
    real = describe(real_vols, r_max=5, with_permeability=False, with_distributions=False)
    floor = evaluation.matched_floor(np.zeros((20, 20, 20), bool), real, 12, draws=2, pool=5)
    phi, cphi = real.values["porosity"], pool.reshape(5, -1).mean(1)
    pick = []                                  # by hand: nearest porosity, each cube once, real volumes in order
    for p in phi:
        j = min((k for k in range(5) if k not in pick), key=lambda k: abs(cphi[k] - p))
        pick.append(j)
    assert len(set(pick)) == 3
    expected = compare(real, describe(pool[pick], r_max=5, with_permeability=False, with_distributions=False))
    np.testing.assert_allclose(floor["s2_mae_rel"], [expected["s2_mae_rel"]] * 2)
    np.testing.assert_allclose(floor["specific_surface_rel_error"], [expected["specific_surface_rel_error"]] * 2)
    np.testing.assert_allclose(floor["abs_porosity_gap"], np.mean(np.abs(cphi[pick] - phi)))
    lagged = describe(pool[pick], r_max=5, with_permeability=False, with_distributions=False)
    assert floor["s2_lag_difference"].shape == (2, 6)
    np.testing.assert_allclose(floor["s2_lag_difference"][0], (lagged.mean_s2() - real.mean_s2()) / phi.mean())
    np.testing.assert_allclose(np.abs(floor["s2_lag_difference"]).mean(1), floor["s2_mae_rel"], rtol=1e-6)
    with pytest.raises(ValueError, match="pool of 2 cubes cannot match 3 real volumes"):
        evaluation.matched_floor(np.zeros((20, 20, 20), bool), real, 12, pool=2)


def test_matched_floor_is_low_for_the_same_rock_and_high_for_another():
    import porespy as ps
    rock = ps.generators.blobs((96, 96, 96), porosity=0.3, blobiness=1.5, seed=1)
    other = ps.generators.blobs((96, 96, 96), porosity=0.3, blobiness=0.5, seed=2)   # coarser grains
    real = describe(np.stack([rock[i:i + 24, :24, :24] for i in (0, 36, 72)]), r_max=8,
                    with_permeability=False, with_distributions=False)
    same = evaluation.matched_floor(rock[:, 40:], real, 24, draws=3, pool=30)
    diff = evaluation.matched_floor(other, real, 24, draws=3, pool=30)
    assert same["abs_porosity_gap"].max() < 0.02 and diff["abs_porosity_gap"].max() < 0.02
    assert same["s2_mae_rel"].max() < 0.05 < 0.15 < diff["s2_mae_rel"].min()
    assert same["specific_surface_rel_error"].max() < 0.1 < 0.4 < diff["specific_surface_rel_error"].min()


def test_by_porosity_half_pairs_volumes_by_index_and_splits_at_the_median_porosity():
    from diffsci_microstructure.evaluation import VolumeStats, by_porosity_half
    real = VolumeStats(values={"porosity": np.array([0.3, 0.1, 0.4, 0.2]), "specific_surface": np.ones(4)})
    # surface that grows with porosity: right on average over the lower half, 3x over the upper half
    gen = VolumeStats(values={"porosity": np.array([0.3, 0.1, 0.4, 0.2]),
                              "specific_surface": np.array([3.0, 1.0, 3.0, 1.0])})
    h = by_porosity_half(real, gen)
    assert h["lower"] == pytest.approx(0.0) and h["upper"] == pytest.approx(2.0)
    assert (h["n_lower"], h["n_upper"]) == (2, 2)
    assert h["porosity_lower"] == pytest.approx(0.15) and h["porosity_upper"] == pytest.approx(0.35)
    with pytest.raises(ValueError, match="3 generated against 4 real"):
        by_porosity_half(real, VolumeStats(values={"specific_surface": np.ones(3)}))
