"""Samplers: plain functions ``f(denoiser, x, sigmas, *, cond=None, callback=None, generator=None) -> x``."""

from .dpmpp_2m import dpmpp_2m
from .euler import euler
from .euler_maruyama import euler_maruyama
from .heun import heun
from .stochastic import stochastic

SAMPLERS = {"euler": euler, "heun": heun, "dpmpp_2m": dpmpp_2m, "stochastic": stochastic,
            "euler_maruyama": euler_maruyama}

#: Denoiser calls made by each sampler for a grid of N steps (N+1 sigmas ending in 0).
NFE = {"euler": lambda n: n, "heun": lambda n: 2 * n - 1, "dpmpp_2m": lambda n: n,
       "stochastic": lambda n: 2 * n - 1, "euler_maruyama": lambda n: n}


def get_sampler(name: str):
    """Look a sampler up by name; an unknown name is an error listing the valid ones."""
    try:
        return SAMPLERS[name]
    except KeyError:
        raise ValueError(f"unknown sampler '{name}'; valid samplers: {', '.join(sorted(SAMPLERS))}") from None


from .generate import generate  # noqa: E402  (needs get_sampler)
from .edit import edit  # noqa: E402  (needs get_sampler)
from .interpolate import interpolate  # noqa: E402  (needs get_sampler)

__all__ = ["SAMPLERS", "NFE", "get_sampler", "generate", "edit", "interpolate", "euler", "heun", "dpmpp_2m",
           "stochastic", "euler_maruyama"]
