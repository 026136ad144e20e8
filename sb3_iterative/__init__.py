"""Iterative amortized policy optimization (Marino et al., NeurIPS 2021) for Stable-Baselines3."""

from sb3_iterative import model_based  # noqa: F401  # registers value_estimator="model" (VALUE_ESTIMATORS)
from sb3_iterative.iterative_crossq import IterativeCrossQ, IterativeCrossQPolicy
from sb3_iterative.iterative_sac import CnnPolicy, IterativeSAC, IterativeSACPolicy, MlpPolicy, MultiInputPolicy
from sb3_iterative.iterative_tqc import IterativeTQC, IterativeTQCPolicy
from sb3_iterative.version import __version__

__all__ = [
    "CnnPolicy",
    "IterativeCrossQ",
    "IterativeCrossQPolicy",
    "IterativeSAC",
    "IterativeSACPolicy",
    "IterativeTQC",
    "IterativeTQCPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "__version__",
]
