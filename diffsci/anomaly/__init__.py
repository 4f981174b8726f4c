"""Anomaly scoring with a diffusion prior: sample scores (NLL, ELBO, reconstruction), maps with the
input's shape, and calibration of scores against normal data (percentiles, conformal p-values)."""

from .calibration import Calibrator
from .maps import RECON_METHODS, MapNormalizer, ReconstructionMaps, reconstruction_maps, smooth_map
from .scores import (SCORE_METHODS, ScoreResult, elbo_score, nll_score, reconstruction_score,
                     score_samples)

__all__ = ["nll_score", "elbo_score", "reconstruction_score", "score_samples", "ScoreResult", "SCORE_METHODS",
           "reconstruction_maps", "ReconstructionMaps", "RECON_METHODS", "smooth_map", "MapNormalizer",
           "Calibrator"]
