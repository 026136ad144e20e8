"""Model-based value estimates inside J (paper Sec. 4.2.5, Appendix A.5, Fig. 9, 12, 13).

- :class:`DynamicsModel`: the learned model of state changes and rewards;
- :class:`ModelValueEstimator` (``value_estimator="model"``) and :class:`ModelBasedValue`: the h-step rollout
  combined with the critics by Retrace, a value estimate of J like the critic ensemble's;
- :func:`distillation_kl`: KL(π_iter ‖ π_direct), which trains the distilled direct policy of an iterative agent.

The policy holds the component and builds the estimate (``IterativePolicy.value_estimate``); the algorithm calls
its training step; moving a trained optimizer onto a model-based objective (Fig. 9) is
:func:`sb3_iterative.analysis.transfer_optimizer`.
"""

from sb3_iterative.model_based.distillation import distillation_kl
from sb3_iterative.model_based.dynamics import DynamicsModel
from sb3_iterative.model_based.estimator import ModelBasedValue, ModelValueEstimator, Rollout

__all__ = ["DynamicsModel", "ModelBasedValue", "ModelValueEstimator", "Rollout", "distillation_kl"]
