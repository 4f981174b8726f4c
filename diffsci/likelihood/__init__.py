"""Likelihood of a diffusion prior: probability-flow ODE log-likelihood (exact or Hutchinson divergence) and
the continuous-time ELBO. See docs/likelihood.md for the math and the biases."""

from .divergence import MODES, PROBES, exact_divergence, hutchinson_divergence, make_probes, tile
from .elbo import ELBOResult, elbo, sigma_proposal
from .pf_ode import (LikelihoodResult, dequantize, gaussian_log_prob, likelihood_grid, log_likelihood, model_mean,
                     typical_noise)

__all__ = ["log_likelihood", "LikelihoodResult", "elbo", "ELBOResult", "exact_divergence",
           "hutchinson_divergence", "make_probes", "tile", "PROBES", "MODES", "likelihood_grid",
           "gaussian_log_prob", "dequantize", "sigma_proposal", "model_mean", "typical_noise"]
