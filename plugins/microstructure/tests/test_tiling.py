import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import uniform_filter

from diffsci import Cond
from diffsci_microstructure.tiling import TiledDenoiser, blend_attenuation, box_mean, seam_s2, tile_starts, window_1d


def pointwise(x, sigma, cond=None):
    """Exact denoiser of independent N(0, 1) voxels: D = x / (1 + sigma^2) (local: tiling must not change it)."""
    s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *[1] * (x.ndim - 1))
    return x / (1 + s ** 2)


def box3(x, sigma, cond=None):
    """A periodic 3x3x3 mean filter: a local denoiser whose receptive field reaches 1 voxel."""
    return F.avg_pool3d(F.pad(x, (1,) * 6, mode="circular"), 3, stride=1)


@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("window", ["hann", "gaussian", "constant"])
def test_a_pointwise_denoiser_is_reproduced_exactly(periodic, window):
    x = torch.randn(2, 1, 16, 24, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigma = torch.tensor([0.3, 4.0], dtype=torch.float64)
    t = TiledDenoiser(pointwise, 8, overlap=0.5, periodic=periodic, window=window)
    torch.testing.assert_close(t(x, sigma), pointwise(x, sigma), rtol=0, atol=1e-12)


def test_a_local_filter_is_exact_when_the_window_ignores_its_border():
    x = torch.randn(1, 1, 24, 24, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    exact = box3(x, 1.0)
    with_margin = TiledDenoiser(box3, 12, overlap=0.5, periodic=True, margin=1)(x, 1.0)
    torch.testing.assert_close(with_margin, exact, rtol=0, atol=1e-12)
    # without the margin the wrap-around at the tile edges leaks in (weighted down by the Hann window)
    err = (TiledDenoiser(box3, 12, overlap=0.5, periodic=True)(x, 1.0) - exact).abs().max()
    assert 1e-4 < err < 0.1


def test_conditions_and_extra_channels_follow_their_sample():
    def scaled(x, sigma, cond):
        return x * cond.scalars[:, :1, None, None, None] + cond.channels
    x = torch.ones(2, 1, 16, 16, 16)
    cond = Cond(scalars=torch.tensor([[2.0], [-3.0]]), channels=torch.randn(2, 1, 16, 16, 16))
    t = TiledDenoiser(scaled, 8, overlap=0.5, periodic=True, max_batch=5)
    torch.testing.assert_close(t(x, 1.0, cond), scaled(x, 1.0, cond))
    assert t.calls > 1


def constant_of_condition(x, sigma, cond):
    """Each tile becomes its own scalar condition: shows which condition every tile was given."""
    return cond.scalars[:, :1, None, None, None].expand_as(x).clone()


def test_per_voxel_scalars_condition_each_tile_on_its_centre():
    field = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x = torch.zeros(2, 1, 16, 16, 16, dtype=torch.float64)
    t = TiledDenoiser(constant_of_condition, 8, overlap=0.5, periodic=True, max_batch=3)
    out = t(x, 1.0, Cond(scalars=field))
    # the blend of per-tile constants, each the field at its tile's centre, written out tile by tile
    starts = t.plan((16, 16, 16))
    num = torch.zeros_like(x)
    den = torch.zeros(16, 16, 16, dtype=torch.float64)
    w1 = window_1d(8)
    w = w1[:, None, None] * w1[None, :, None] * w1[None, None, :]
    for a in starts[0]:
        for b in starts[1]:
            for c in starts[2]:
                ix = np.ix_(*[(s0 + np.arange(8)) % 16 for s0 in (a, b, c)])
                centre = field[:, 0, (a + 4) % 16, (b + 4) % 16, (c + 4) % 16]
                num[(slice(None), 0) + ix] += centre[:, None, None, None] * w
                den[ix] += w
    torch.testing.assert_close(out, num / den, rtol=0, atol=1e-12)
    # a constant map is the scalar condition itself; per-sample scalars are untouched
    flat = Cond(scalars=torch.tensor([[0.5], [-2.0]], dtype=torch.float64))
    as_map = Cond(scalars=flat.scalars[:, :, None, None, None].expand(2, 1, 16, 16, 16))
    torch.testing.assert_close(t(x, 1.0, as_map), t(x, 1.0, flat), rtol=0, atol=1e-12)
    # a single tile, rolled by a random offset o, reads the map at the centre of what the network sees: voxel 8 - o
    one = TiledDenoiser(constant_of_condition, 16, shift="random", generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(0)
    i, j, k = [(8 - int(torch.randint(0, 16, (1,), generator=g).item())) % 16 for _ in range(3)]
    torch.testing.assert_close(one(x, 1.0, Cond(scalars=field)), field[:, :, i:i + 1, j:j + 1, k:k + 1].expand_as(x))


def test_random_shift_keeps_local_denoisers_exact_and_single_tiles_pass_through():
    x = torch.randn(1, 1, 16, 16, 16, dtype=torch.float64)
    t = TiledDenoiser(pointwise, 8, periodic=True, shift="random", generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(t(x, 2.0), pointwise(x, 2.0), rtol=0, atol=1e-12)
    one = TiledDenoiser(box3, 16)
    torch.testing.assert_close(one(x, 1.0), box3(x, 1.0))
    assert one.calls == 1


def test_whole_above_denoises_the_whole_volume_on_its_map_mean_above_the_switch_and_tiles_below():
    field = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    x = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    shapes = []

    def recording(x, sigma, cond):
        shapes.append(tuple(x.shape))
        return box3(x, sigma) + constant_of_condition(x, sigma, cond)
    t = TiledDenoiser(recording, 8, overlap=0.5, whole_above=2.0, shift="random",
                      generator=torch.Generator().manual_seed(9))
    tiled = TiledDenoiser(recording, 8, overlap=0.5, shift="random", generator=torch.Generator().manual_seed(9))
    # above the switch: one call on the whole (rolled) volume, conditioned on the map's mean; a box filter is
    # equivariant to the roll, so the output is box3 plus that mean, exactly
    out = t(x, 5.0, Cond(scalars=field))
    assert shapes == [(2, 1, 16, 16, 16)] and t.calls == 1
    mean = field.flatten(1).mean(1).reshape(2, 1, 1, 1, 1)
    torch.testing.assert_close(out, box3(x, 5.0) + mean, rtol=0, atol=1e-12)
    # at and below it: the tiles, exactly as a denoiser without the switch (same random grid offsets)
    tiled(x, 5.0, Cond(scalars=field))                                    # draws the same offsets as t's first call
    shapes.clear()
    torch.testing.assert_close(t(x, 2.0, Cond(scalars=field)), tiled(x, 2.0, Cond(scalars=field)), rtol=0, atol=0)
    assert shapes and all(s[2:] == (8, 8, 8) for s in shapes)
    with pytest.raises(ValueError, match="whole_above"):
        TiledDenoiser(recording, 8, whole_above=0.0)



@pytest.mark.parametrize("box", [(1, 1, 1), (4, 5, 8), (7, 6, 3)])
def test_box_mean_averages_the_periodic_region_of_a_tile_centred_on_each_voxel(box):
    v = torch.randn(2, 1, 8, 10, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    brute = torch.zeros_like(v)                  # voxel c averages c - b//2 .. c + b - 1 - b//2 (a tile's centre, b//2)
    for i in range(box[0]):
        for j in range(box[1]):
            for k in range(box[2]):
                brute += torch.roll(v, (box[0] // 2 - i, box[1] // 2 - j, box[2] // 2 - k), (2, 3, 4))
    torch.testing.assert_close(box_mean(v, box), brute / np.prod(box), rtol=0, atol=1e-12)
    np.testing.assert_allclose(box_mean(v, box)[1, 0].numpy(), uniform_filter(v[1, 0].numpy(), box, mode="wrap"),
                               rtol=0, atol=1e-12)                   # scipy's centring of an even box is the same
    with pytest.raises(ValueError, match="box of 9 voxels along an axis of 8"):
        box_mean(v, (9, 1, 1))


def test_tiles_below_the_switch_read_the_whole_volume_estimate_over_their_own_region():
    x = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    given = torch.full((2, 1), 0.3, dtype=torch.float64)
    seen = []

    def recording(x, sigma, cond):
        seen.append((tuple(x.shape), cond.scalars.clone()))
        return box3(x, sigma) + cond.scalars.reshape(-1, 1, 1, 1, 1)
    t = TiledDenoiser(recording, 8, overlap=0.5, whole_above=2.0, max_batch=128,
                      from_estimate=lambda m, asked: 3 * m + asked.reshape(-1, 1, 1, 1, 1))
    estimate = t(x, 5.0, Cond(scalars=given))                         # above: the whole volume on the given value
    torch.testing.assert_close(estimate, box3(x, 5.0) + 0.3, rtol=0, atol=1e-12)
    seen.clear()
    t(x, 1.0, Cond(scalars=given))                                    # below: each tile on its region's estimate
    (shape, scalars), = seen
    starts = t.plan((16, 16, 16))
    want = [3 * estimate[b, 0][np.ix_(*[(np.arange(8) + s) % 16 for s in st])].mean() + 0.3
            for b in range(2) for st in np.array(np.meshgrid(*starts, indexing="ij")).reshape(3, -1).T]
    assert shape == (2 * 64, 1, 8, 8, 8)                              # 4 starts per axis, one call
    torch.testing.assert_close(scalars[:, 0], torch.stack(want), rtol=0, atol=1e-12)
    # a new whole-volume call (a new draw, or a churned step back above the switch) refreshes the estimate
    t(-x, 5.0, Cond(scalars=given))
    seen.clear()
    t(x, 1.0, Cond(scalars=given))
    assert not torch.allclose(seen[0][1], scalars)
    with pytest.raises(ValueError, match="needs whole_above"):
        TiledDenoiser(recording, 8, from_estimate=lambda m, asked: m)

def grid_biased(x, sigma, cond=None):
    """A denoiser with a fixed-phase bias: +1 on every fourth plane of its own frame (as a 2-level UNet's)."""
    bias = torch.zeros_like(x)
    bias[:, :, 3::4] = 1.0
    return x + bias


def test_a_random_roll_of_a_single_tile_is_exact_for_equivariant_denoisers_and_spreads_a_grid_bias():
    x = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    cond = Cond(scalars=torch.tensor([[2.0], [-3.0]], dtype=torch.float64),
                channels=torch.randn(2, 1, 16, 16, 16, dtype=torch.float64))

    def scaled(x, sigma, cond):
        return box3(x, sigma) * cond.scalars[:, :1, None, None, None] + cond.channels
    for tile in (16, None):                             # exactly one tile, or the whole volume as one
        t = TiledDenoiser(scaled, tile, shift="random", generator=torch.Generator().manual_seed(5))
        torch.testing.assert_close(t(x, 1.0, cond), scaled(x, 1.0, cond), rtol=0, atol=1e-12)
        assert t.calls == 1
    fixed = TiledDenoiser(grid_biased, 16)
    rolled = TiledDenoiser(grid_biased, 16, shift="random", generator=torch.Generator().manual_seed(6))
    assert torch.equal(fixed(x, 1.0) - x, grid_biased(x, 1.0) - x)      # no shift: the bias stays on its planes
    mean_bias = sum(rolled(x, 1.0) - x for _ in range(400)) / 400
    per_plane = mean_bias[0, 0].mean(dim=(1, 2))
    # spread over all 16 planes: each gets 1/4 on average (binomial sd ~ 0.02), not 0 or 1
    assert torch.all((per_plane - 0.25).abs() < 0.1), per_plane


def test_hann_windows_at_half_overlap_are_a_partition_of_unity():
    w = window_1d(16)
    total = w + torch.roll(w, 8)
    torch.testing.assert_close(total, torch.ones(16, dtype=torch.float64), rtol=0, atol=1e-12)
    assert tile_starts(64, 32, 16, True, offset=5) == [5, 21, 37, 53]
    with pytest.raises(ValueError, match="smaller than the tile"):
        tile_starts(8, 16, 8, False)
    with pytest.raises(ValueError, match="periodic"):
        TiledDenoiser(pointwise, 8, periodic=False, shift="random")


def test_seam_s2_sees_an_artificial_seam_and_not_a_seamless_volume():
    rng = np.random.default_rng(0)
    v = rng.random((64, 32, 32)) < 0.3
    across, overall = seam_s2(v, [0, 32], axis=0, r_max=4)
    assert np.max(np.abs(across - overall)) < 0.01                    # no seam: sampling noise only
    seamed = v.copy()
    seamed[31] = seamed[32] = True                                   # pore planes on either side of x = 32
    across, overall = seam_s2(seamed, [32], axis=0, r_max=4)
    assert across[0] > overall[0] + 0.2


def test_blend_attenuation_passes_slow_maps_and_stops_what_the_tile_centres_cannot_see():
    i = np.arange(64)
    slow = np.broadcast_to(np.sin(2 * np.pi * i / 64)[:, None], (64, 64))[None]       # wavelength 64, tiles 8
    a_slow = blend_attenuation(slow, 8, overlap=0.25, shift="random")
    assert 0.9 < a_slow <= 1.0
    # a voxel checkerboard of 48^2: every tile centre (start + 4, starts 0, 6, ..., 42) sits on the same colour,
    # so the fixed grid passes nothing of it
    assert tile_starts(48, 8, 6, True) == list(range(0, 48, 6))
    j = np.arange(48)
    checker = ((-1.0) ** (j[:, None] + j[None, :]))[None]
    assert blend_attenuation(checker, 8, overlap=0.25, shift="none", calls=1) < 1e-20
    # one call without shifts is the blend itself, written out by TiledDenoiser
    rng = np.random.default_rng(0)
    field = rng.standard_normal((2, 32, 32))
    t = TiledDenoiser(lambda x, sigma, cond: cond.scalars[:, :1, None, None].expand_as(x).clone(), 8, overlap=0.25)
    out = t(torch.zeros(2, 1, 32, 32, dtype=torch.float64), 1.0, Cond(scalars=torch.from_numpy(field)[:, None]))
    assert blend_attenuation(field, 8, overlap=0.25, calls=1) == pytest.approx(
        out[:, 0].numpy().var(axis=(1, 2)).mean() / field.var(axis=(1, 2)).mean(), rel=1e-12)
    # random offsets read other centres at every call, and their mean over calls smooths the field further
    assert blend_attenuation(field, 8, overlap=0.25, shift="random", calls=16) < blend_attenuation(
        field, 8, overlap=0.25, shift="random", calls=1)
    # larger tiles average the centres of a white field over more voxels: less of it passes
    assert blend_attenuation(field, 16, overlap=0.25, shift="random") < blend_attenuation(field, 8, overlap=0.25,
                                                                                         shift="random")
    with pytest.raises(ValueError, match="do not vary"):
        blend_attenuation(np.full((2, 8, 8), 0.2), 4, overlap=0.25)

