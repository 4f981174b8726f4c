"""Preconditioning, sigma schedules, training loss, and closed-form reference denoisers."""

from .analytic import GaussianDenoiser, GaussianMixtureDenoiser
from .loss import EDMLoss
from .preconditioning import EDMDenoiser
from .schedules import SCHEDULES, get_schedule, karras_sigmas, loglinear_sigmas
from .vp import VPEpsDenoiser

__all__ = ["EDMDenoiser", "EDMLoss", "GaussianDenoiser", "GaussianMixtureDenoiser",
           "karras_sigmas", "loglinear_sigmas", "SCHEDULES", "get_schedule", "VPEpsDenoiser"]
