"""Shared fixtures: seeded generators and the Gaussian references the engine is held to."""

import pytest
import torch

SHAPES = {1: (1, 6), 2: (1, 3, 2), 3: (1, 2, 2, 2)}


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)


def random_gaussian(shape, *, full: bool, seed: int = 0):
    """A Gaussian over ``shape`` with a random mean and a random SPD covariance (float64)."""
    from diffsci.diffusion import GaussianDenoiser
    g = torch.Generator().manual_seed(seed)
    d = int(torch.tensor(shape).prod())
    mean = torch.randn(shape, generator=g, dtype=torch.float64)
    if full:
        a = torch.randn(d, d, generator=g, dtype=torch.float64)
        return GaussianDenoiser(mean, cov=a @ a.T / d + 0.05 * torch.eye(d, dtype=torch.float64))
    return GaussianDenoiser(mean, var=torch.rand(shape, generator=g, dtype=torch.float64) + 0.1)
