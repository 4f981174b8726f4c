"""Built-in synthetic domain (placeholder; the full domain with known scores is being built)."""

from .domains import Domain

domain = Domain(name="synthetic", spatial_dims=(1, 2, 3),
                description="Gaussian mixtures and random fields with known scores (tests and demo)")
