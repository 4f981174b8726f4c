import numpy as np
import pytest
import torch
from scipy.stats import binom, norm
from torch import nn

from diffsci_microstructure.data import porosity_to_scalar
from diffsci_microstructure.generation import (estimate_porosity, field_conditioned, generate_volumes, median_clean,
                                               porosity_cond, reconstruct_from_slices, slice_operator)


class IndependentGaussian(nn.Module):
    """Exact denoiser of voxels i.i.d. N(m, 1): D = m + (x - m) / (1 + sigma^2); with it the probability-flow
    ODE maps noise to exact N(m, 1) draws, so the porosity of a sample (x > 0) is Phi(m)."""

    sigma_data = 1.0

    def __init__(self, m: float):
        super().__init__()
        self.m = m

    def forward(self, x, sigma, cond=None):
        s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *[1] * (x.ndim - 1))
        return self.m + (x - self.m) / (1 + s ** 2)


class FieldGaussian(nn.Module):
    """A prior conditioned on a porosity field (channel logit(phi)): the exact denoiser of independent voxels
    N(m(v), 1) with m(v) = Phi^-1(phi(v)), so a sample's voxel v is pore with probability phi(v) exactly."""

    sigma_data = 1.0

    def __init__(self):
        super().__init__()
        self.net = nn.Module()
        self.net.cond_channels, self.net.spatial_dims = 1, 3

    def forward(self, x, sigma, cond=None):
        assert cond is not None and cond.channels is not None and cond.channels.shape == x.shape
        m = torch.from_numpy(norm.ppf(torch.sigmoid(cond.channels).double().numpy())).to(x.dtype)
        s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *[1] * (x.ndim - 1))
        return m + (x - m) / (1 + s ** 2)


def test_a_field_prior_reads_the_map_at_every_voxel_through_the_tiles():
    """Two halves asked for 0.1 and 0.5: every tile that straddles the border gets both values voxel by voxel, so
    the halves keep their porosities; a scalar prior reads one value per tile and blends them."""
    d = FieldGaussian()
    assert field_conditioned(d) and not field_conditioned(IndependentGaussian(0.0))
    maps = np.full((2, 16, 16, 16), 0.1)
    maps[:, 8:] = 0.5
    vols = generate_volumes(d, 2, 16, porosity=maps, tile=8, overlap=0.5, shift="random", sampler="heun",
                            steps=32, seed=4)
    # 2 x 8 x 16 x 16 Bernoulli voxels per half: standard errors 0.0047 (0.1) and 0.0078 (0.5)
    assert vols[:, :8].mean() == pytest.approx(0.1, abs=0.02) and vols[:, 8:].mean() == pytest.approx(0.5, abs=0.03)
    # the planes next to the border too (a blended scalar condition would pull them towards 0.3)
    assert vols[:, 7].mean() == pytest.approx(0.1, abs=0.04) and vols[:, 8].mean() == pytest.approx(0.5, abs=0.06)
    flat = generate_volumes(d, 2, 16, porosity=[0.2, 0.4], sampler="heun", steps=32, seed=5)   # one value each
    assert [v.mean() for v in flat] == pytest.approx([0.2, 0.4], abs=0.03)
    with pytest.raises(ValueError, match="no unconditional mode"):
        generate_volumes(d, 1, 16, steps=2)
    with pytest.raises(ValueError, match="maps of shape"):
        porosity_cond(np.full((1, 8, 8, 8), 0.2), 1, field_shape=(16, 16, 16))
    c = porosity_cond([0.2, 0.3], 2, field_shape=(4, 4, 4))
    assert c.scalars is None and c.channels.shape == (2, 1, 4, 4, 4)
    np.testing.assert_allclose(c.channels[1].numpy(), porosity_to_scalar(0.3), rtol=1e-6)


def test_tiled_generation_has_the_exact_porosity():
    m = 0.5
    kw = dict(sampler="heun", steps=32, seed=1, return_model_units=True)
    x = generate_volumes(IndependentGaussian(m), 2, 16, tile=8, overlap=0.5, **kw)
    np.testing.assert_allclose(x, generate_volumes(IndependentGaussian(m), 2, 16, **kw), atol=1e-5)   # = untiled
    assert x.std() == pytest.approx(1.0, abs=0.03)                       # N(m, 1) voxels
    vols = generate_volumes(IndependentGaussian(m), 2, 16, tile=8, overlap=0.5, sampler="heun", steps=32, seed=1)
    assert vols.shape == (2, 16, 16, 16) and vols.dtype == bool
    # 2 x 16^3 Bernoulli(Phi(0.5)) voxels: standard error 0.005
    assert vols.mean() == pytest.approx(norm.cdf(m), abs=0.02)


def test_sampler_keywords_reach_the_stochastic_sampler():
    """A larger churn cap (s_gamma_max) changes the draw, not the law: N(m, 1) voxels either way."""
    kw = dict(sampler="stochastic", steps=64, seed=3, return_model_units=True)
    plain = generate_volumes(IndependentGaussian(0.5), 2, 16, **kw)
    more = generate_volumes(IndependentGaussian(0.5), 2, 16, sampler_kw={"s_churn": 64.0, "s_gamma_max": 1.0}, **kw)
    assert not np.allclose(plain, more)
    for x in (plain, more):                                    # 8192 voxels: se of the std ~0.008
        assert x.mean() == pytest.approx(0.5, abs=0.04) and x.std() == pytest.approx(1.0, abs=0.06)
    with pytest.raises(TypeError, match="s_gamma_max"):
        generate_volumes(IndependentGaussian(0.5), 1, 8, sampler="heun", steps=2, sampler_kw={"s_gamma_max": 1.0})


def test_median_post_processing_of_gaussian_voxels_follows_the_binomial_law():
    # the 3^3 median of 27 i.i.d. N(m, 1) voxels is > 0 iff at least 14 of them are: P = P(Bin(27, Phi(m)) >= 14)
    m = 0.2
    kw = dict(sampler="heun", steps=32, seed=3)
    x = generate_volumes(IndependentGaussian(m), 2, 24, return_model_units=True, **kw)
    vols = generate_volumes(IndependentGaussian(m), 2, 24, median=3, **kw)
    np.testing.assert_array_equal(vols, median_clean(x, 3) > 0)
    want = binom.sf(13, 27, norm.cdf(m))                                  # 0.80, vs Phi(0.2) = 0.58 unfiltered
    assert vols.mean() == pytest.approx(want, abs=0.02) and x.__gt__(0).mean() == pytest.approx(norm.cdf(m), abs=0.02)
    # periodic (commutes with a circular shift), and never across the batch axis
    rolled = median_clean(np.roll(x, 5, axis=2), 3)
    np.testing.assert_array_equal(rolled, np.roll(median_clean(x, 3), 5, axis=2))
    np.testing.assert_array_equal(median_clean(x, 3)[1], median_clean(x[1], 3, batched=False))
    assert median_clean(x, 1) is not None and np.array_equal(median_clean(x, 1), x)


def test_reconstruction_reproduces_the_given_slices():
    rng = np.random.default_rng(0)
    plane0, plane2 = rng.random((16, 16)) < 0.3, rng.random((16, 16)) < 0.7
    with pytest.raises(ValueError, match="disagrees"):
        plane2[5, :] = ~plane0[:, 9]                                  # the planes cross on the line (5, :, 9)
        reconstruct_from_slices(IndependentGaussian(0.0), {(0, 5): plane0, (2, 9): plane2}, (16, 16, 16))
    plane2[5, :] = plane0[:, 9]
    rec = reconstruct_from_slices(IndependentGaussian(0.0), {(0, 5): plane0, (2, 9): plane2}, (16, 16, 16),
                                  n=2, steps=6, tile=8, seed=2)
    assert rec.shape == (2, 16, 16, 16)
    for r in rec:
        np.testing.assert_array_equal(r[5], plane0)
        np.testing.assert_array_equal(r[:, :, 9], plane2)
    with pytest.raises(ValueError, match="expected \\(16, 16\\)"):
        reconstruct_from_slices(IndependentGaussian(0.0), {(1, 3): plane0[:8]}, (16, 16, 16))


def test_slice_operator_and_porosity_condition():
    op = slice_operator((4, 5, 6), [(1, 2)])
    assert float(op.mask.sum()) == 4 * 6 and bool(op.mask[0, :, 2, :].all())
    with pytest.raises(ValueError, match="outside a volume"):
        slice_operator((4, 5, 6), [(3, 0)])
    c = porosity_cond([0.2, 0.3], 2)
    torch.testing.assert_close(c.scalars[:, 0].double(), torch.from_numpy(porosity_to_scalar([0.2, 0.3])),
                               rtol=1e-6, atol=1e-6)
    assert porosity_cond(None, 3) is None
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        porosity_cond(1.2, 1)


def test_a_coded_slice_is_refused_not_cast():
    rng = np.random.default_rng(0)
    coded = np.where(rng.random((8, 8)) < 0.3, 0, 255).astype(np.uint8)       # 0 = pore, as the Berea file
    with pytest.raises(ValueError, match=r"slice \(axis=0, index=4\) is uint8 with the values \{0, 255\}.*binarize"):
        reconstruct_from_slices(IndependentGaussian(0.0), {(0, 4): coded}, (8, 8, 8))
    rec = reconstruct_from_slices(IndependentGaussian(0.0), {(0, 4): coded == 0}, (8, 8, 8), steps=4)
    np.testing.assert_array_equal(rec[0, 4], coded == 0)                      # pore where the file says 0


class TwoScalarGaussian(nn.Module):
    """Independent N(m, 1) voxels with m = the first scalar condition (logit porosity) mapped through
    Phi^-1(sigmoid(.)); records the conditions it was given. Stands in for a prior with num_scalars = 2."""

    sigma_data = 1.0

    def __init__(self):
        super().__init__()
        self.net = nn.Module()
        self.net.spatial_dims = 3
        self.net.cond_embedding = nn.Module()
        self.net.cond_embedding.num_scalars = 2
        self.seen = []

    def forward(self, x, sigma, cond=None):
        self.seen.append(None if cond is None or cond.scalars is None else cond.scalars.clone())
        m = torch.from_numpy(norm.ppf(torch.sigmoid(cond.scalars[:, :1]).double().numpy())).to(x.dtype)
        s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *[1] * (x.ndim - 1))
        m = m.reshape(-1, *[1] * (x.ndim - 1))
        return m + (x - m) / (1 + s ** 2)


def test_a_surface_conditioned_prior_gets_both_scalars():
    d = TwoScalarGaussian()
    vols = generate_volumes(d, 2, 16, porosity=[0.2, 0.4], specific_surface=[0.08, 0.1], sampler="heun", steps=16,
                            seed=0, batch=2)
    torch.testing.assert_close(d.seen[0], torch.tensor([[float(porosity_to_scalar(0.2)), 0.8],
                                                        [float(porosity_to_scalar(0.4)), 1.0]]))
    assert vols[0].mean() == pytest.approx(0.2, abs=0.03) and vols[1].mean() == pytest.approx(0.4, abs=0.03)
    with pytest.raises(ValueError, match="takes 2 scalar condition.*porosity was given; pass specific_surface="):
        generate_volumes(d, 1, 8, porosity=0.2, steps=2)
    with pytest.raises(ValueError, match="needs a porosity target"):
        generate_volumes(d, 1, 8, specific_surface=0.1, steps=2)
    with pytest.raises(ValueError, match="takes 1 scalar condition.*porosity and specific_surface was given"):
        one = TwoScalarGaussian()
        one.net.cond_embedding.num_scalars = 1
        generate_volumes(one, 1, 8, porosity=0.2, specific_surface=0.1, steps=2)
    with pytest.raises(ValueError, match="must be positive"):
        porosity_cond(0.2, 1, specific_surface=-1.0)


class IndependentBinary(nn.Module):
    """Exact denoiser of voxels i.i.d. +-1 (pore +1, the model units) with P(pore) = sigmoid(scalar condition):
    the posterior log-odds of +1 given x = x0 + sigma n are logit(phi) + 2 x / sigma^2, so
    D = E[x0 | x] = tanh(logit(phi) / 2 + x / sigma^2). Records the conditions it is given."""

    sigma_data = 1.0

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x, sigma, cond=None):
        self.seen.append((float(torch.as_tensor(sigma).max()), cond.scalars.clone()))
        s = torch.as_tensor(sigma, dtype=x.dtype).reshape(-1, *[1] * (x.ndim - 1))
        return torch.tanh(cond.scalars[:, :1].reshape(-1, *[1] * (x.ndim - 1)) / 2 + x / s ** 2)


def test_tiles_conditioned_on_the_estimate_ask_for_the_porosity_the_whole_volume_was_given():
    # E[mean of D over a region] = E[x0] = 2 phi - 1 (the tower property), so estimate_porosity gives back the
    # target on average: the tiles below the switch ask for the porosity the whole-volume calls were conditioned on
    assert float(estimate_porosity(torch.tensor(2 * 0.3 - 1))) == pytest.approx(float(porosity_to_scalar(0.3)))
    d, targets = IndependentBinary(), np.array([0.2, 0.35])
    kw = dict(tile=8, overlap=0.5, whole_above=1.0, sampler="heun", steps=12, seed=2, batch=2, max_batch=128)
    vols = generate_volumes(d, 2, 16, porosity=targets, maps_from_estimate="raw", **kw)
    above = [c for s, c in d.seen if s > 1.0]
    below = [c for s, c in d.seen if s <= 1.0]
    assert above and below and all(c.shape == (2, 1) for c in above) and all(c.shape == (128, 1) for c in below)
    torch.testing.assert_close(above[0][:, 0], torch.tensor(porosity_to_scalar(targets), dtype=torch.float32))
    raw = torch.sigmoid(below[0][:, 0]).reshape(2, 64)                    # each volume's 64 tiles, as porosities
    assert raw.std(1).min() > 1e-3                                        # local values, not the volume's one value
    np.testing.assert_allclose(raw.mean(1).numpy(), targets, atol=0.02)   # 16^3 voxels: se ~0.004
    np.testing.assert_allclose(vols.mean(axis=(1, 2, 3)), targets, atol=0.03)
    # recentred: the same draw up to the switch, the same deviations, the mean moved exactly to the asked porosity
    # (the 64 tiles of the 4^3 grid tile the torus evenly, so their mean is the volume mean of the box means)
    d.seen.clear()
    generate_volumes(d, 2, 16, porosity=targets, maps_from_estimate="recentred", **kw)
    centred = torch.sigmoid(next(c for s, c in d.seen if s <= 1.0)[:, 0]).reshape(2, 64)
    np.testing.assert_allclose(centred.mean(1).numpy(), targets, atol=1e-5)
    torch.testing.assert_close(centred - centred.mean(1, keepdim=True), raw - raw.mean(1, keepdim=True), atol=1e-5,
                               rtol=0)
    with pytest.raises(ValueError, match="needs the asked porosity"):
        estimate_porosity(torch.zeros(1, 1, 4, 4, 4), recentred=True)
    with pytest.raises(ValueError, match="needs both a tile size and whole_above"):
        generate_volumes(d, 1, 16, porosity=0.2, tile=8, maps_from_estimate="raw", steps=2)
    with pytest.raises(ValueError, match="'raw' or 'recentred'"):
        generate_volumes(d, 1, 16, porosity=0.2, tile=8, whole_above=1.0, maps_from_estimate="yes", steps=2)
    with pytest.raises(ValueError, match="needs a porosity target"):
        generate_volumes(d, 1, 16, tile=8, whole_above=1.0, maps_from_estimate="raw", steps=2)
