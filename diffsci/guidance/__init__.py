"""Guidance: classifier-free guidance and posterior sampling for inverse problems."""

from .cfg import ClassifierFreeGuidance

__all__ = ["ClassifierFreeGuidance"]
