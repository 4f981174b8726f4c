import numpy as np
import pytest

from diffsci_microstructure.metrics import euler_density, interface_phase_density, porosity, specific_surface


def test_porosity_is_the_pore_fraction():
    m = np.zeros((10, 10, 10), bool)
    m[:3] = True
    assert porosity(m) == 0.3
    with pytest.raises(ValueError, match="boolean pore mask"):
        porosity(np.full((3, 3), 7))


@pytest.mark.parametrize("r", [12, 20])
def test_specific_surface_of_a_ball(r, ball):
    m = ball(2 * r + 8, r)
    exact = 4 * np.pi * r ** 2 / m.size
    assert specific_surface(m) == pytest.approx(exact, rel=0.015)          # Crofton: isotropic estimate
    mc = specific_surface(m, method="marching_cubes")
    assert exact < mc < 1.12 * exact                                         # MC overestimates a digitised sphere


def test_specific_surface_of_a_slab_by_marching_cubes_is_exact():
    n = 24
    m = np.zeros((n, n, n), bool)
    m[:, :, 5:15] = True
    # two planes spanning the mesh (n - 1 voxel steps on a side, as marching cubes does not close the box)
    assert specific_surface(m, method="marching_cubes") == pytest.approx(2 * (n - 1) ** 2 / n ** 3, rel=1e-6)
    # the Crofton estimate assumes isotropy: a slab normal to one axis (2 transitions per line) reads 2/3
    assert specific_surface(m) == pytest.approx(2 * (2 / n) / 3, rel=1e-12)
    assert specific_surface(m, voxel_size=2e-6) == pytest.approx(specific_surface(m) / 2e-6)


def test_specific_surface_of_a_disc_in_2d():
    g = np.indices((80, 80)) - 39.5
    m = (g ** 2).sum(0) <= 30 ** 2
    assert specific_surface(m) == pytest.approx(2 * np.pi * 30 / m.size, rel=0.02)


def test_euler_characteristic_of_simple_shapes(ball):
    b = ball(16, 5)
    assert euler_density(b) * b.size == pytest.approx(1)                    # one ball
    shell = ball(20, 8) & ~ball(20, 5)
    assert euler_density(shell) * shell.size == pytest.approx(2)            # a ball with a cavity
    g = np.indices((24, 24, 24)) - 11.5
    torus = (np.sqrt(g[0] ** 2 + g[1] ** 2) - 7) ** 2 + g[2] ** 2 <= 2.5 ** 2
    assert euler_density(torus) * torus.size == pytest.approx(0)            # one tunnel


def test_interface_phase_density_is_flat_for_noise_and_finds_a_grid_artefact():
    rng = np.random.default_rng(0)
    noise = rng.random((32, 32, 32)) < 0.2
    flat = interface_phase_density(noise, 4)
    np.testing.assert_allclose(flat, 2 * 0.2 * 0.8, atol=0.01)           # iid voxels: P(change) = 2 phi (1 - phi)
    # interfaces snapped to every fourth plane (the fixed-grid artefact): one phase carries them all
    blocks = np.kron(rng.random((8, 8, 8)) < 0.5, np.ones((4, 4, 4), bool))
    d = interface_phase_density(blocks, 4)
    assert d[:3].max() == 0 and d[3] > 0.4
    # the phase follows the grid's origin, and periodic volumes count the wrap-around pair
    on_torus = interface_phase_density(blocks, 4, periodic=True)
    layers = np.zeros((8, 8, 8), bool)
    layers[4:] = True                                                     # interfaces 3|4 and, on the torus, 7|0
    np.testing.assert_allclose(interface_phase_density(layers, 8)[[3, 7]], [1 / 3, 0])
    np.testing.assert_allclose(interface_phase_density(layers, 8, periodic=True)[[3, 7]], [1 / 3, 1 / 3])
    np.testing.assert_allclose(interface_phase_density(np.roll(blocks, 1, axis=(0, 1, 2)), 4, periodic=True,
                                                       origin=1), on_torus)
    with pytest.raises(ValueError, match="period"):
        interface_phase_density(noise, 0)
