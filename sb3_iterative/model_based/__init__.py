"""Model-based value estimates inside J (paper Sec. 4.2.5, Appendix A.5, Fig. 9, 12, 13).

- :class:`DynamicsModel`: the learned model of state changes and rewards;
- :class:`ModelValueEstimator` (``value_estimator="model"``) and :class:`ModelBasedValue`: the h-step rollout
  combined with the critics by Retrace, a value estimate of J like the critic ensemble's;
- :func:`distillation_kl`: KL(π_iter ‖ π_direct), which trains the distilled direct policy of an iterative agent.

The policy holds the component and builds the estimate (``IterativePolicy.value_estimate``); the algorithm calls
its training step; moving a trained optimizer onto a model-based objective (Fig. 9) is
:func:`sb3_iterative.analysis.transfer_optimizer`.
"""

import warnings
from typing import Any

from sb3_iterative.model_based.distillation import distillation_kl
from sb3_iterative.model_based.dynamics import DynamicsModel
from sb3_iterative.model_based.estimator import ModelBasedValue, ModelValueEstimator, Rollout
from sb3_iterative.value_estimators import VALUE_ESTIMATORS as _REGISTRY

__all__ = ["DynamicsModel", "ModelBasedValue", "ModelValueEstimator", "Rollout", "distillation_kl"]


def __getattr__(name: str) -> Any:
    """The names of earlier releases, with a warning that says what replaced them."""
    if name == "ModelBasedQ":
        warnings.warn(
            "sb3_iterative.model_based.ModelBasedQ is deprecated: use sb3_iterative.model_based.ModelValueEstimator",
            DeprecationWarning,
            stacklevel=2,
        )
        return ModelValueEstimator
    if name == "VALUE_ESTIMATORS":
        warnings.warn(
            "sb3_iterative.model_based.VALUE_ESTIMATORS is deprecated: use sb3_iterative.value_estimators.VALUE_ESTIMATORS "
            "(the registry, name -> component)",
            DeprecationWarning,
            stacklevel=2,
        )
        return tuple(_REGISTRY)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
