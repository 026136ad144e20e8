"""One interface to every actor of a policy (:class:`Amortizer`): how training, the critic's target, acting and the
analyses enter Algorithm 2, whichever actor the policy has.

An actor is an amortized optimizer of λ = (µ, log σ): the iterative one runs K gated updates on ∇_λ J from λ_0
(:class:`IterativeAmortizer`, the paper's), a direct one maps the state to λ in one pass (:class:`DirectAmortizer`:
SAC's, TQC's or CrossQ's actor; :class:`FlowAmortizer`: the flow-policy baseline, SAC's actor with a flow). Each
answers with the path λ_0 → λ_K of one optimization (:class:`~sb3_iterative.common.iterative_actor.IterativeTrace`:
a path of length one for a direct actor) and says how many estimates of ∇_λ J it draws noise for. The policy asks
which actor it has once, where it builds it (``IterativePolicy.make_amortizer``).
"""

from collections.abc import Callable
from typing import Any, Protocol

import torch as th
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_iterative.common.iterative_actor import IterativeActor, IterativeTrace
from sb3_iterative.common.options import IterativeOptions
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.flow_actor import FlowActor
from sb3_iterative.objective import ValueEstimate

# λ = (µ, log σ) [B, A] each of a batch of observations
Parameters = tuple[th.Tensor, th.Tensor]


class DirectActor(Protocol):
    """The direct actor λ = f_φ(s) of a base policy: SAC's, sb3-contrib TQC's (the same network, its own
    class) or CrossQ's (batch-renormalized); also the distilled policy of the warm start, the distilled
    target and the model's rollouts."""

    optimizer: th.optim.Optimizer

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        """λ = (µ, log σ) [B, A] each, and the distribution's keywords."""
        ...

    def __call__(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...

    def set_training_mode(self, mode: bool) -> None: ...


class Amortizer(Protocol):
    """What is asked of a policy's actor, whichever it is."""

    #: whether λ depends on J (the actor optimizes it, reading the value estimate; else it ignores it)
    reads_objective: bool
    #: the direct policy λ = f(s) the actor is, if it is one (a model rollout's policy), else None
    direct_policy: DirectActor | None

    @property
    def n_estimates(self) -> int:
        """The estimates of ∇_λ J in one optimization, each with its slice of the noise plan (K; 0 for a direct actor)."""
        ...

    def trace(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
        with_values: bool = True,
        shared_noise: bool = False,
    ) -> IterativeTrace:
        """The path λ_0 → λ_K for ``obs`` (Algorithm 2; one λ for a direct actor).

        :param value_estimate: Q̂_β bound to ``obs`` (None for an actor that does not read J)
        :param noise: ε of its estimates of ∇_λ J [K, N, B, A]; drawn from ``generator`` when None
        :param with_values: estimate J itself at each λ_k, not only ∇_λ J
        :param shared_noise: one set of noise (and one random λ_0) for the whole batch
        """
        ...

    def act(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        beta: float,
        deterministic: bool,
        ent_coef: th.Tensor | float | None = None,
        optimized_parameters: Callable[..., Parameters] | None = None,
    ) -> th.Tensor:
        """Actions for ``obs``: tanh of the mode of π(·|s; λ_K), or a sample of it.

        :param ent_coef: α of J (None: the algorithm's)
        :param optimized_parameters: the iterative optimizer's acting path compiled (``compile_acting``)
        """
        ...

    def set_ent_coef(self, ent_coef: th.Tensor) -> None:
        """α of J while acting, kept equal to the algorithm's (an actor that does not read J has none)."""
        ...

    def set_options(self, options: IterativeOptions) -> None:
        """The iterative optimizer's settings, changed after the policy was built (an actor without one has none)."""
        ...


def amortizer_of(policy: Any) -> Amortizer:
    """The actor of any policy of the family behind the one interface: the package's own (``policy.amortizer``), or
    a stock SAC's, TQC's or CrossQ's direct actor."""
    amortizer = getattr(policy, "amortizer", None)  # the package's policies build one; stock ones have none
    return amortizer if amortizer is not None else DirectAmortizer(policy.actor)


class IterativeAmortizer:
    """The iterative optimizer f_φ (:class:`~sb3_iterative.common.iterative_actor.IterativeActor`) with its λ_0: the
    actor's own (fixed, or random with ``init_mu_std``), or the distilled direct policy's with ``warm_start``.

    :param actor: f_φ
    :param warm_start: λ of the distilled direct policy for a batch of observations (None: the actor's λ_0)
    """

    reads_objective = True

    def __init__(self, actor: IterativeActor, warm_start: Callable[[PyTorchObs], Parameters] | None = None):
        self.actor = actor
        self.warm_start = warm_start
        self.direct_policy: DirectActor | None = None

    @property
    def n_estimates(self) -> int:
        return self.actor.options.n_iterations

    def initial(self, obs: PyTorchObs) -> Parameters | None:
        """λ_0 for ``obs`` where it is the warm start's (constants of the optimization); None: the actor's own,
        drawn inside the optimization."""
        if self.warm_start is None:
            return None
        with th.no_grad():
            return self.warm_start(obs)

    def trace(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
        with_values: bool = True,
        shared_noise: bool = False,
    ) -> IterativeTrace:
        assert value_estimate is not None, "the iterative optimizer reads J"
        return self.actor.optimize(
            obs, value_estimate, ent_coef, beta, noise, generator, with_values, shared_noise, initial=self.initial(obs)
        )

    def act(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        beta: float,
        deterministic: bool,
        ent_coef: th.Tensor | float | None = None,
        optimized_parameters: Callable[..., Parameters] | None = None,
    ) -> th.Tensor:
        assert value_estimate is not None, "the iterative optimizer reads J"
        return self.actor(
            obs,
            value_estimate,
            beta=beta,
            deterministic=deterministic,
            ent_coef=ent_coef,
            initial=self.initial(obs),
            optimized_parameters=optimized_parameters,
        )

    def set_ent_coef(self, ent_coef: th.Tensor) -> None:
        self.actor.ent_coef.copy_(ent_coef.reshape(()))

    def set_options(self, options: IterativeOptions) -> None:
        self.actor.options = options


class DirectAmortizer:
    """A base's direct actor λ = f_φ(s) (SAC's, TQC's, CrossQ's): one λ per state, J unread."""

    reads_objective = False
    n_estimates = 0

    def __init__(self, actor: DirectActor):
        self.actor = actor
        self.direct_policy: DirectActor | None = actor

    def parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, PolicyDistribution]:
        """λ for ``obs`` and the policy's family bound to it (SAC's tanh-Gaussian)."""
        mu, log_std, _ = self.actor.get_action_dist_params(obs)
        return mu, log_std, TANH_GAUSSIAN

    def trace(self, obs: PyTorchObs, *args: Any, **kwargs: Any) -> IterativeTrace:
        mu, log_std, distribution = self.parameters(obs)
        return IterativeTrace(lambdas=[(mu, log_std)], estimates=[], gates=[], first_trained=0, distribution=distribution)

    def act(self, obs: PyTorchObs, value_estimate: Any, beta: float, deterministic: bool, *args: Any, **kw: Any) -> th.Tensor:
        return self.actor(obs, deterministic)

    def set_ent_coef(self, ent_coef: th.Tensor) -> None:
        """A direct actor reads no J while it acts."""

    def set_options(self, options: IterativeOptions) -> None:
        """A direct actor has no optimizer's settings (N is J's, read by the policy's noise plan)."""


class FlowAmortizer(DirectAmortizer):
    """The flow-policy baseline's actor (:class:`~sb3_iterative.flow_actor.FlowActor`): one λ of its base Gaussian
    per state, with its flow bound to the states; not a direct policy a model rollout reads."""

    def __init__(self, actor: FlowActor):
        super().__init__(actor)
        self.flow_actor = actor
        self.direct_policy = None

    def parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, PolicyDistribution]:
        return self.flow_actor.get_flow_params(obs)
