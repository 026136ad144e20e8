"""Model-based value estimates inside J (paper Sec. 4.2.5, Appendix A.5, Fig. 9, 12, 13).

- :class:`DynamicsModel`: the learned model of state changes and rewards;
- :class:`ModelBasedQ` and :class:`ModelBasedValue`: the h-step rollout combined with the critics by
  Retrace, a value estimate of J like the critic ensemble's;
- :func:`distillation_kl`: KL(π_iter ‖ π_direct), which trains the rollout policy of an iterative agent;
- :func:`transfer_optimizer`: a trained model-free optimizer acting on a model-based objective (Fig. 9).
"""

from sb3_iterative.model_based.distillation import distillation_kl
from sb3_iterative.model_based.dynamics import DynamicsModel
from sb3_iterative.model_based.estimator import VALUE_ESTIMATORS, ModelBasedQ, ModelBasedValue, Rollout

__all__ = ["VALUE_ESTIMATORS", "DynamicsModel", "ModelBasedQ", "ModelBasedValue", "Rollout", "distillation_kl"]
