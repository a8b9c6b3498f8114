"""autotab: a reproducible, data-versioned tabular ML workflow (DVC + Hydra + scikit-learn + BentoML)."""

__version__ = "0.1.0"
