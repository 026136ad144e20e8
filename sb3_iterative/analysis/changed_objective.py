"""Objectives changed at test time: the paper's generalization across objectives (Sec. 4.2.5, Fig. 9).

The iterative optimizer reads ∇_λ J at every update, so it optimizes whatever J it is given. Change J
at deployment, by adding a differentiable term to the critic's Q (an action-energy penalty, a cost
of the task) or by swapping in another critic, and the trained optimizer follows the new objective
without retraining. A direct actor cannot: λ = f_φ(s) never reads the critic, so its actions stay
those of the objective it was trained on, until it is trained again.

The change is made on the value estimate, not on J: :class:`QWithTerm` adds the term to Q̂_β (as
adding it to every critic's Q would: mean and std across the critics shift and stay) and J is still
the package's :func:`sb3_iterative.objective.objective`, with E[term] added. The model's own value
estimate comes from its policy (``IterativeSACPolicy.value_estimate``: the critic ensemble, or the
model-based estimate of a model-based agent).
"""

from collections.abc import Callable, Sequence

import numpy as np
import torch as th
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_iterative.analysis.models import (
    TrainedModel,
    check_model,
    current_ent_coef,
    model_value_estimate,
    pessimism,
)
from sb3_iterative.common.amortizers import amortizer_of
from sb3_iterative.common.policies import IterativePolicy
from sb3_iterative.critics import CriticEnsemble, EnsembleQ
from sb3_iterative.objective import ValueEstimate, autograd_value_gradient

# A term of the objective as a function of the actions: [N, B, A] -> [N, B], differentiable
ObjectiveTerm = Callable[[th.Tensor], th.Tensor]


class QWithTerm:
    """Q̂_β(s, a) + term(a): a value estimate with a term added.

    Its ∂/∂a is autograd's, through the value estimate and the term together.
    """

    def __init__(self, value_estimate: ValueEstimate, term: ObjectiveTerm):
        self.value_estimate = value_estimate
        self.term = term

    def value(self, actions: th.Tensor, beta: float) -> th.Tensor:
        return self.value_estimate.value(actions, beta) + self.term(actions)

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        return autograd_value_gradient(self, actions, beta)


def action_energy_penalty(coef: float) -> ObjectiveTerm:
    """The term −c·‖a‖², a in the policy's action space [−1, 1]^|A| (before rescaling to the env's bounds)."""

    def penalty(actions: th.Tensor) -> th.Tensor:
        return -coef * actions.pow(2).sum(dim=-1)

    return penalty


def action_target_penalty(coef: float, target: Sequence[float] | np.ndarray | th.Tensor) -> ObjectiveTerm:
    """The term −c·‖a − a*‖²: a pull of every action towards ``target`` a* in the policy's action space
    [−1, 1]^|A| (an optimum away from λ_0's centre, where the energy penalty's is at it)."""
    target_tensor = th.as_tensor(target, dtype=th.float32)

    def penalty(actions: th.Tensor) -> th.Tensor:
        return -coef * (actions - target_tensor.to(actions.device)).pow(2).sum(dim=-1)

    return penalty


class ChangedObjective(BasePolicy):
    """A trained model acting on, and analysed on, an objective changed at test time.

    J becomes E[Q̂_β + term] + α·H(π), with Q̂_β from ``critic``, or the whole value estimate and α of
    another model (``objective_of``: :func:`transfer_optimizer`), or the model's own by default (read
    when used, so a model still training is followed). With an iterative model, ``predict`` runs the
    trained optimizer on the new J, with the model's K, N, α and ``beta_collect``: it is a drop-in
    policy for ``evaluate_policy`` and for the analyses (``analysis.amortization_gap(changed, states)``).
    A direct actor (SAC, or ``actor="direct"``) cannot act on a changed objective: λ = f_φ(s) does not
    read it. Its analyses still run (its gap on the new J shows what it leaves), but ``predict``
    raises.

    :param model: a model of the package (IterativeSAC, IterativeTQC, IterativeCrossQ) or a stock SAC, TQC or CrossQ agent
    :param term: a differentiable function of the actions [N, B, A] -> [N, B] added to every critic's
        Q, e.g. :func:`action_energy_penalty`
    :param critic: another critic ensemble to use in J, taking the model's observations and actions, of the
        model's critics' family (its outputs become Q̂_β with the model's pessimism)
    :param objective_of: another model whose J (its value estimate, e.g. model-based, and its α) replaces
        the model's, on the same observation and action spaces
    """

    def __init__(
        self,
        model: TrainedModel,
        term: ObjectiveTerm | None = None,
        critic: CriticEnsemble | None = None,
        objective_of: TrainedModel | None = None,
    ):
        check_model(model)
        if term is None and critic is None and objective_of is None:
            raise ValueError(
                "ChangedObjective needs a term, a critic or another model's objective: without them J is unchanged"
            )
        if critic is not None and objective_of is not None:
            raise ValueError("ChangedObjective takes a critic or another model's objective (objective_of), not both")
        if objective_of is not None:
            check_model(objective_of, "objective_of")
            for space in ("observation_space", "action_space"):
                if getattr(objective_of.policy, space) != getattr(model.policy, space):
                    raise ValueError(
                        f"objective_of has another {space} ({getattr(objective_of.policy, space)}) than the model "
                        f"({getattr(model.policy, space)}): its objective is over other states or actions"
                    )
        if term is not None and not callable(term):
            raise TypeError(f"term must be a function of the actions [N, B, A] -> [N, B], got {type(term).__name__}")
        if critic is not None and not (isinstance(critic, th.nn.Module) and hasattr(critic, "q_networks")):
            raise TypeError(
                "critic must be a critic ensemble (SB3's ContinuousCritic, TQC's or CrossQ's critic), "
                f"got {type(critic).__name__}"
            )
        super().__init__(model.policy.observation_space, model.policy.action_space, squash_output=True)
        self.model = model
        self.policy = model.policy
        self.term = term
        self.other_critic = critic
        self.objective_of = objective_of

    def ent_coef(self) -> th.Tensor:
        """α of the changed J: the other model's with ``objective_of``, else the model's."""
        return current_ent_coef(self.objective_of if self.objective_of is not None else self.model)

    def value_estimate(
        self,
        obs: PyTorchObs,
        generator: th.Generator | None = None,
        shared_noise: bool = False,
        common_noise: bool = False,
    ) -> ValueEstimate:
        """The value estimate of the changed J, bound to ``obs`` (rollout options as :func:`.model_value_estimate`)."""
        if self.other_critic is not None:
            value_estimate: ValueEstimate = EnsembleQ(self.other_critic, obs, pessimism(self.model))
        else:
            owner = self.objective_of if self.objective_of is not None else self.model
            value_estimate = model_value_estimate(owner, obs, generator, shared_noise, common_noise)
        return QWithTerm(value_estimate, self.term) if self.term is not None else value_estimate

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        policy = self.policy
        if not (isinstance(policy, IterativePolicy) and policy.amortizer.reads_objective):
            raise TypeError(
                "A direct actor cannot act on a changed objective: λ = f_φ(s) never reads the critic, so its "
                "actions are those of the objective it was trained on. Retrain it, or use an iterative model."
            )
        return policy.act(observation, deterministic, bind=self.value_estimate, ent_coef=self.ent_coef())


def transfer_optimizer(source: TrainedModel, target: TrainedModel) -> ChangedObjective:
    """The paper's Fig. 9: ``source``'s iterative optimizer acting on ``target``'s objective.

    The whole optimizer of ``source`` (trunk, update heads and gates, its K, N and ``beta_collect``)
    runs on J as ``target`` defines it: its value estimate (e.g. the model-based one: the model, the
    critics and the rollout policy of ``target``) and its α. Neither model is changed. The result is a
    policy for ``evaluate_policy`` and for the analyses. The paper moves a model-free optimizer onto a
    model-based agent's objective; any IterativeSAC with the same spaces can be the target.

    :param source: a model of the package with the iterative actor (a direct actor has no optimizer to move)
    :param target: the model (of the package, or a stock agent) whose objective the optimizer runs on
    """
    check_model(source, "source")
    if not amortizer_of(source.policy).reads_objective:
        raise ValueError(
            "source must be a model with the iterative actor: a direct actor (SAC, TQC, CrossQ, actor='direct') "
            "has no optimizer to transfer, λ = f_φ(s) never reads the objective"
        )
    return ChangedObjective(source, objective_of=target)
