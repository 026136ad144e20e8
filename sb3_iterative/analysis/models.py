"""The trained models the analyses read: the package's iterative algorithms and the stock agents of the
SB3 family (SB3's SAC, sb3-contrib's TQC and CrossQ), and what each says J is.

A stock agent's J is its actor's objective, written with the package's pessimism: SAC's and CrossQ's
min over two critics is mean − β·std with β = 1, TQC's mean of every quantile is the truncation with
β = 0. The β of its critics' target is 1 for SAC and CrossQ, ``top_quantiles_to_drop_per_net`` for TQC.
"""

import torch as th
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_iterative.common.algorithm import IterativeAmortization
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.objective import ValueEstimate
from sb3_iterative.pessimism import EnsembleStd, Pessimism, TruncatedQuantiles

# The stock algorithms whose agents the analyses read
STOCK_ALGORITHMS = (SAC, TQC, CrossQ)
# A model the analyses read: an iterative algorithm's (any actor) or a stock agent
TrainedModel = IterativeAmortization | SAC | TQC | CrossQ
TRAINED_MODELS = (IterativeAmortization, *STOCK_ALGORITHMS)  # the same, for isinstance


def check_model(model: object, name: str = "model") -> None:
    """Raise a TypeError naming ``name`` unless the analyses can read ``model``."""
    if not isinstance(model, TRAINED_MODELS):
        raise TypeError(
            f"{name} must be a model of the package (IterativeSAC, IterativeTQC, IterativeCrossQ) or a stock agent of "
            f"{', '.join(algorithm.__name__ for algorithm in STOCK_ALGORITHMS)}, got {type(model).__name__}"
        )


def is_stock(model: TrainedModel) -> bool:
    return not isinstance(model, IterativeAmortization)


def pessimism(model: TrainedModel) -> Pessimism:
    """How the model's critics' outputs become Q̂_β: its policy's, or a stock agent's actor objective's family."""
    if isinstance(model, IterativeAmortization):
        return model.policy.pessimism
    if isinstance(model, TQC):
        return TruncatedQuantiles(model.critic.n_critics, model.critic.n_quantiles)
    return EnsembleStd(model.critic.n_critics)


def acting_beta(model: TrainedModel) -> float:
    """β of J as the model acts: ``beta_collect``, or a stock actor's objective (SAC's and CrossQ's min: 1; TQC's mean: 0)."""
    if isinstance(model, IterativeAmortization):
        return float(model.policy.beta_collect)
    return 0.0 if isinstance(model, TQC) else 1.0


def training_beta(model: TrainedModel) -> float:
    """β of the model's critic target: ``model.beta``, or a stock agent's (1; TQC's dropped quantiles per critic)."""
    if isinstance(model, IterativeAmortization):
        return float(model.beta)
    return float(model.top_quantiles_to_drop_per_net) if isinstance(model, TQC) else 1.0


def current_ent_coef(model: TrainedModel) -> th.Tensor:
    """α of a model, detached."""
    return th.exp(model.log_ent_coef.detach()) if model.log_ent_coef is not None else model.ent_coef_tensor


def model_value_estimate(
    model: TrainedModel,
    obs: PyTorchObs,
    generator: th.Generator | None = None,
    shared_noise: bool = False,
    common_noise: bool = False,
) -> ValueEstimate:
    """The value estimate of a model's J bound to ``obs``: its policy's (an iterative algorithm's), or a stock
    agent's critics. The rollout options matter for a model-based estimate only (``IterativePolicy.value_estimate``)."""
    if isinstance(model, IterativeAmortization):
        return model.policy.value_estimate(
            obs, current_ent_coef(model), generator=generator, shared_noise=shared_noise, common_noise=common_noise
        )
    return EnsembleQ(model.policy.critic, obs, pessimism(model))
