"""The value estimate inside J as a component of the policy, one kind per entry of :data:`VALUE_ESTIMATORS`.

A policy's ``value_estimator`` names the kind; the policy holds the component (``policy.estimator``), and the
component owns what is its own: its parameters and optimizer (saved under ``policy.estimator``), its training
step on a replay batch (:meth:`ValueEstimator.fit`, the algorithm's ``_value_estimator_step``), the options it
reads from the policy and the algorithm with their defaults, and its say on the critic's target
(:meth:`ValueEstimator.values_target`, :meth:`ValueEstimator.target_parameters`). It builds Q̂_β bound to a batch
of observations (:meth:`ValueEstimator.build`), the :class:`~sb3_iterative.objective.ValueEstimate` that J reads.

- ``"critic"`` (:class:`CriticValueEstimator`): the critic ensemble's Q̂_β, model-free; nothing of its own.
- ``"model"`` (:class:`~sb3_iterative.model_based.estimator.ModelValueEstimator`): a learned model's h-step rollout
  combined with the critics by Retrace (paper Sec. 4.2.5).

A new kind is a subclass of :class:`ValueEstimator` registered with :func:`register_value_estimator`.
"""

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples
from torch import nn

from sb3_iterative.critics import CriticEnsemble, CriticStacks, EnsembleQ
from sb3_iterative.objective import ValueEstimate
from sb3_iterative.pessimism import Pessimism

if TYPE_CHECKING:
    from sb3_iterative.common.amortizers import BaseAmortizer


def with_defaults(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Each option of ``defaults``, its value in ``options`` or its default where that is None or absent."""
    return {name: default if options.get(name) is None else options[name] for name, default in defaults.items()}


class ValueEstimator(nn.Module):
    """A kind of value estimate inside J: what a kind declares and the methods it answers.

    A module of the policy (``policy.estimator``): its parameters and buffers are the policy's, saved with it;
    its optimizers are named in :attr:`optimizer_names` and saved beside the policy's. It keeps the policy's
    critics stacked for the hand-written gradient (``stacks``, lent to every binding of the critics it makes,
    which checks them against the critics before it uses them).
    """

    #: the name ``value_estimator`` gives it
    kind: ClassVar[str]
    #: the policy's options it reads (``policy_kwargs``), with their defaults; another kind refuses them
    policy_options: ClassVar[Mapping[str, Any]] = {}
    #: the algorithm's options it reads (``IterativeSAC(..., name=...)``), with their defaults; another kind refuses them
    training_options: ClassVar[Mapping[str, Any]] = {}
    #: it reads a direct policy (an iterative actor then trains a distilled one for it)
    reads_direct_policy: ClassVar[bool] = False
    #: its estimates draw samples of their own (deterministic acting seeds them)
    draws_samples: ClassVar[bool] = False
    #: its optimizers, as attributes of the component
    optimizer_names: ClassVar[tuple[str, ...]] = ()
    #: what the error of a training that diverged adds (J's values are checked once per ``train()`` call)
    divergence_hint: ClassVar[str] = ""

    def __init__(self) -> None:
        super().__init__()
        self.stacks = CriticStacks()

    @classmethod
    def check_options(
        cls, options: Mapping[str, Any], actor: "type[BaseAmortizer]", compile_acting: bool, observation_space: spaces.Space
    ) -> dict[str, Any]:
        """The policy's options of every kind (None where unset): those of another kind must be unset; its own
        with their defaults, checked. ``actor`` (the class of the policy's actor, :mod:`~sb3_iterative.common.amortizers`),
        ``compile_acting`` and the observation space: what it needs of them."""
        for name, value in options.items():
            if name not in cls.policy_options and value is not None:
                owner = option_owner(name, "policy_options")
                raise ValueError(f"{name} {owner} (this policy has value_estimator={cls.kind!r})")
        return with_defaults(options, cls.policy_options)

    @classmethod
    def make(
        cls,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        options: Mapping[str, Any],
        make_optimizer: Callable[[Iterator[nn.Parameter]], th.optim.Optimizer],
        device: th.device | str = "cpu",
    ) -> "ValueEstimator":
        """The component for a policy, from its checked options (:meth:`check_options`); ``make_optimizer`` gives
        the policy's optimizer class and settings for the component's parameters, on ``device``."""
        return cls().to(device)

    @classmethod
    def check_training_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        """The algorithm's options of this kind, with their defaults where None, checked."""
        return with_defaults(options, cls.training_options)

    def build(
        self,
        obs: PyTorchObs,
        critic: CriticEnsemble,
        pessimism: Pessimism,
        ent_coef: th.Tensor | float,
        direct_policy: Any = None,
        generator: th.Generator | None = None,
        shared_noise: bool = False,
        common_noise: bool = False,
    ) -> ValueEstimate:
        """Q̂_β bound to ``obs``, on ``critic`` (the online or the target critics).

        :param pessimism: how the critics' outputs become Q̂_β
        :param ent_coef: α, for the soft values of the estimate's own samples
        :param direct_policy: a direct policy, for the kinds that read one
        :param generator: the random generator of the estimate's own samples (None: torch's global one)
        :param shared_noise: one set of its samples for the whole batch (deterministic acting)
        :param common_noise: the same samples in every call (the analyses' fixed samples)
        """
        raise NotImplementedError

    def fit(self, replay_data: ReplayBufferSamples) -> dict[str, th.Tensor]:
        """Its own training step on a replay batch, with its optimizers; what it logs (names of ``TRAINING_LOGS``, 0-d
        tensors: the algorithm reads them once per ``train()`` call)."""
        return {}

    def pretraining_steps(self, training_options: Mapping[str, Any]) -> int:
        """The :meth:`fit` steps before the first gradient step of the rest."""
        return 0

    def set_gamma(self, gamma: float) -> None:
        """The algorithm's discount, for a kind that discounts inside its estimate."""

    def values_target(self, training_options: Mapping[str, Any]) -> bool:
        """Whether it has its say on the critic's target: its own λ' (:meth:`target_parameters`), which it values."""
        return False

    def target_parameters(self, next_obs: PyTorchObs, direct_policy: Any) -> tuple[th.Tensor, th.Tensor]:
        """Its λ' = (µ', log σ') of the critic's target, where :meth:`values_target`."""
        raise NotImplementedError


class CriticValueEstimator(ValueEstimator):
    """The critic ensemble's Q̂_β (model-free): :class:`~sb3_iterative.critics.EnsembleQ`. No parameters of its own."""

    kind = "critic"

    def build(
        self,
        obs: PyTorchObs,
        critic: CriticEnsemble,
        pessimism: Pessimism,
        ent_coef: th.Tensor | float,
        direct_policy: Any = None,
        generator: th.Generator | None = None,
        shared_noise: bool = False,
        common_noise: bool = False,
    ) -> ValueEstimate:
        return EnsembleQ(critic, obs, pessimism, self.stacks)


#: The kinds of value estimate a policy can take (``value_estimator``), by name; a kind registers itself
#: with :func:`register_value_estimator` where it is defined (the package registers both on import)
VALUE_ESTIMATORS: dict[str, type[ValueEstimator]] = {}


def register_value_estimator(kind: type[ValueEstimator]) -> type[ValueEstimator]:
    """Add a kind to :data:`VALUE_ESTIMATORS` under its ``kind`` (a class decorator)."""
    if kind.kind in VALUE_ESTIMATORS and VALUE_ESTIMATORS[kind.kind] is not kind:
        raise ValueError(f"value estimator {kind.kind!r} is registered already ({VALUE_ESTIMATORS[kind.kind].__name__})")
    VALUE_ESTIMATORS[kind.kind] = kind
    return kind


def option_owner(name: str, options: str) -> str:
    """Which kind an option belongs to, as an error message says it: ``options`` is ``"policy_options"`` or
    ``"training_options"``."""
    owners = [kind.kind for kind in VALUE_ESTIMATORS.values() if name in getattr(kind, options)]
    return f"applies to value_estimator={owners[0]!r} only" if len(owners) == 1 else "applies to another value estimator"


def estimator_option_names() -> tuple[str, ...]:
    """The policy options every registered kind declares (a policy takes them as keywords)."""
    return tuple(dict.fromkeys(name for kind in VALUE_ESTIMATORS.values() for name in kind.policy_options))


def check_training_options_kind(policy_kwargs: Mapping[str, Any] | None, **options: Any) -> None:
    """Refuse an algorithm's value-estimator options that are set (not None) and read by another kind than the one
    ``policy_kwargs`` names (a kind that does not exist is refused with the policy)."""
    kind = (policy_kwargs or {}).get("value_estimator", "critic")
    estimator = VALUE_ESTIMATORS.get(kind) if isinstance(kind, str) else None
    for name, value in options.items():
        if value is not None and estimator is not None and name not in estimator.training_options:
            raise ValueError(
                f"{name} {option_owner(name, 'training_options')} (policy_kwargs=dict(value_estimator=...); "
                f"this agent has value_estimator={kind!r})"
            )


def value_estimator_class(kind: Any) -> type[ValueEstimator]:
    """The component of ``value_estimator=kind``, or a ValueError naming the kinds."""
    if not isinstance(kind, str) or kind not in VALUE_ESTIMATORS:
        raise ValueError(f"value_estimator must be one of {tuple(VALUE_ESTIMATORS)}, got {kind!r}")
    return VALUE_ESTIMATORS[kind]


register_value_estimator(CriticValueEstimator)
