"""A trained model as the analyses see it: the objective J it optimizes and its amortized λ.

Every analysis of the paper asks the same things of a model: its critic ensemble bound to states
(the Q function inside J), α, β, and its amortized action distribution λ = (µ, log σ), from the
iterative optimizer (λ_0 → λ_K, Algorithm 2) or from the direct actor (λ = f_φ(s), SAC).
:func:`as_agent` reads them from a model of the package (IterativeSAC, IterativeTQC, IterativeCrossQ, any
actor), a stock agent of the SB3 family (SAC, sb3-contrib's TQC and CrossQ: :mod:`~sb3_iterative.analysis.models`),
or a :class:`~sb3_iterative.analysis.changed_objective.ChangedObjective` of one; J itself is always the
package's :func:`sb3_iterative.objective.objective`.

Which β: the analyses of the amortized policy (gap, improvement, optimizers, modes, landscape) default
to the β the agent acts with (``beta_collect``, 1 by default: the objective its optimizer runs on when
it acts); SAC's and CrossQ's objective is β = 1 with two critics (min(Q_1, Q_2)), TQC's the mean of every
quantile (β = 0). The value bias defaults to the
training β, the one the critic's target uses. Every analysis takes ``beta`` to choose another.
"""

import functools
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim, is_image_space, maybe_transpose
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_iterative.analysis.changed_objective import ChangedObjective
from sb3_iterative.analysis.models import (
    TrainedModel,
    acting_beta,
    check_model,
    current_ent_coef,
    is_stock,
    model_value_estimate,
    pessimism,
    training_beta,
)
from sb3_iterative.analysis.optimizers import OptimizationPath
from sb3_iterative.common.amortizers import Amortizer, amortizer_of
from sb3_iterative.common.iterative_actor import IterativeTrace
from sb3_iterative.common.policies import ROLLOUT_SEED, IterativePolicy
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.objective import ValueEstimate, noise_plan, objective
from sb3_iterative.pessimism import Pessimism

# What every analysis accepts as ``model``
Model = TrainedModel | ChangedObjective
AnalysisResult = TypeVar("AnalysisResult")


@dataclass
class Agent:
    """What the analyses need of a trained model.

    :param policy: the model's policy (its actor and critic)
    :param pessimism: how the critics' outputs become Q̂_β (the policy's, or the stock agent's objective's)
    :param bind: the value estimate of J bound to a batch of observations (the model's, plus any
        test-time term of a :class:`ChangedObjective`)
    :param ent_coef: α of J
    :param beta: β of J while acting (``beta_collect``; 1 for SAC and CrossQ, 0 for TQC)
    :param training_beta: β of the critic's target and the actor's loss (``model.beta``; 1 for SAC and CrossQ,
        ``top_quantiles_to_drop_per_net`` for TQC)
    :param gamma: the discount of the model
    :param changed: whether J has a test-time change (a term or another critic)
    """

    policy: BasePolicy
    pessimism: Pessimism
    bind: Callable[[PyTorchObs], ValueEstimate]
    ent_coef: float
    beta: float
    training_beta: float
    gamma: float
    changed: bool

    @property
    def amortizer(self) -> Amortizer:
        """The policy's actor behind the one interface (a stock agent's direct actor too)."""
        return amortizer_of(self.policy)

    @property
    def reads_objective(self) -> bool:
        """Whether the actor optimizes J by iterations (it has K, λ_0 and the optimizer's settings)."""
        return self.amortizer.reads_objective

    @property
    def iterative_policy(self) -> IterativePolicy:
        """The policy of an agent whose actor optimizes J (raises for a direct one)."""
        if not self.reads_objective:
            raise ValueError(f"this model's actor is {self.actor}, not an iterative optimizer")
        assert isinstance(self.policy, IterativePolicy)  # stock agents' actors are direct
        return self.policy

    @property
    def n_iterations(self) -> int:
        """K, the iterative optimizer's number of updates per state."""
        return self.iterative_policy.n_iterations

    @property
    def actor(self) -> str:
        """The kind of actor: ``"iterative"``, ``"direct"`` (SAC's, TQC's, CrossQ's) or ``"flow"`` (the flow baseline)."""
        return self.amortizer.kind

    @property
    def action_dim(self) -> int:
        return get_action_dim(self.policy.action_space)

    @property
    def device(self) -> th.device:
        return self.policy.device

    def observations(self, states: Any, name: str = "states") -> PyTorchObs:
        """A batch of B states [B, *observation shape] as the policy's tensor, after checking its shape."""
        space = self.policy.observation_space
        if isinstance(space, spaces.Dict):
            if not isinstance(states, dict) or set(states) != set(space.spaces):
                raise ValueError(f"{name} must be a dict of batches with the keys {sorted(space.spaces)}")
            sizes = {_batch_size(states[key], subspace, f"{name}[{key!r}]") for key, subspace in space.spaces.items()}
            if len(sizes) != 1:
                raise ValueError(f"{name} must hold the same number of states under every key, got {sorted(sizes)}")
        else:
            _batch_size(states, space, name)
        obs, _ = self.policy.obs_to_tensor(states)
        return obs

    def single_observation(self, state: Any, name: str = "state") -> PyTorchObs:
        """One state (an observation, not a batch) as a batch of one."""
        space = self.policy.observation_space
        if isinstance(space, spaces.Dict):
            if not isinstance(state, dict):
                raise ValueError(f"{name} must be one observation, a dict with the keys {sorted(space.spaces)}")
            return self.observations({key: np.asarray(value)[None] for key, value in state.items()}, name)
        shape, expected = np.shape(state), space.shape
        assert expected is not None
        # an image may come channel-last: observations() checks it after transposing
        if len(shape) != len(expected) or (shape != expected and not is_image_space(space)):
            raise ValueError(f"{name} must be one observation of shape {expected}, got shape {shape}")
        return self.observations(np.asarray(state)[None], name)

    def noise(self, n_samples: int, batch_size: int, generator: th.Generator) -> th.Tensor:
        """Standard normal ε [N, B, A] for one estimate of J (:func:`~sb3_iterative.objective.noise_plan`)."""
        return noise_plan(1, n_samples, batch_size, self.action_dim, generator, device=self.device)[0]

    def generator(self, seed: int) -> th.Generator:
        """A private generator: the analyses never move torch's global random state."""
        return th.Generator(device=self.device).manual_seed(seed)

    def amortized(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        beta: float,
        generator: th.Generator,
        n_iterations: int | None = None,
        init_mu_std: float | None = None,
    ) -> IterativeTrace:
        """The amortized λ for ``obs``: the iterative optimizer's path λ_0..λ_K (Algorithm 2), or the
        direct actor's one λ = f_φ(s) as a path of length one (a flow actor's with its flow bound to ``obs``).

        :param n_iterations: K for the iterative optimizer (None: the model's)
        :param init_mu_std: the spread of the iterative optimizer's random λ_0 (None: the model's; 0: fixed)
        """
        if not self.reads_objective:
            for name, value in (("n_iterations", n_iterations), ("init_mu_std", init_mu_std)):
                if value is not None:
                    raise ValueError(f"{name} applies to an iterative optimizer; this model's actor is {self.actor}")
        with th.no_grad(), self.iterations(n_iterations), self.starts(init_mu_std):
            return amortizer_of(self.policy).trace(
                obs, value_estimate, self.ent_coef, beta, generator=generator, with_values=False
            )

    def iterations(self, n_iterations: int | None) -> AbstractContextManager[None]:
        """Run the iterative optimizer with K = ``n_iterations`` (None: unchanged), then restore K."""
        return self._setting("n_iterations", n_iterations)

    def starts(self, init_mu_std: float | None) -> AbstractContextManager[None]:
        """Run the iterative optimizer from random λ_0 of spread ``init_mu_std`` (None: unchanged), then restore it."""
        return self._setting("init_mu_std", init_mu_std)

    @contextmanager
    def _setting(self, name: str, value: Any) -> Iterator[None]:
        """The iterative policy's setting ``name`` (checked by its setter) at ``value`` inside, as it was after."""
        if value is None:
            yield
            return
        policy = self.iterative_policy
        trained = getattr(policy, name)
        setattr(policy, name, value)
        try:
            yield
        finally:
            setattr(policy, name, trained)

    def evaluate(
        self,
        value_estimate: ValueEstimate,
        mu: th.Tensor,
        log_std: th.Tensor,
        noise: th.Tensor,
        beta: float,
        distribution: PolicyDistribution = TANH_GAUSSIAN,
    ) -> th.Tensor:
        """J(s, λ) [B] by :func:`objective` on fixed samples ε (the same ε for every λ compared).

        :param distribution: the policy's family (a flow actor's, from :meth:`amortized`'s trace)
        """
        with th.no_grad():
            return objective(value_estimate, mu, log_std, noise, self.ent_coef, beta, distribution).value

    def evaluate_path(
        self, value_estimate: ValueEstimate, path: OptimizationPath, noise: th.Tensor, beta: float
    ) -> np.ndarray:
        """J at every λ_t of a path on the same samples ε: [T + 1, B]."""
        values = [
            self.evaluate(value_estimate, mu, log_std, noise, beta) for mu, log_std in zip(path.mu, path.log_std, strict=True)
        ]
        return th.stack(values).cpu().numpy()


def as_agent(model: Model) -> Agent:
    """The :class:`Agent` of a model of the package, of a stock SAC, TQC or CrossQ agent, or of a
    :class:`ChangedObjective` of one."""
    bind: Callable[[PyTorchObs], ValueEstimate] | None = None
    ent_coef: th.Tensor | None = None
    if isinstance(model, ChangedObjective):
        bind, ent_coef, model = (
            partial(_with_fixed_rollouts, model.value_estimate, model.device),
            model.ent_coef(),
            model.model,
        )
    check_model(model)
    policy = model.policy
    if getattr(policy.actor, "use_sde", False):
        raise ValueError(
            f"model: {type(model).__name__} with gSDE (use_sde=True) is not supported: its λ is not a per-state (µ, log σ)"
        )
    ent_coef = current_ent_coef(model) if ent_coef is None else ent_coef
    if is_stock(model) and acting_beta(model) == 1.0 and policy.critic.n_critics != 2:
        warnings.warn(
            f"{type(model).__name__}'s actor maximizes min over its {policy.critic.n_critics} critics; the package's J "
            "with β = 1 equals that minimum only for two critics",
            stacklevel=3,
        )
    policy.set_training_mode(False)  # CrossQ's batch renormalization: the running statistics
    return Agent(
        policy=policy,
        pessimism=pessimism(model),
        bind=bind if bind is not None else partial(_with_fixed_rollouts, partial(model_value_estimate, model), model.device),
        ent_coef=float(ent_coef),
        beta=acting_beta(model),
        training_beta=training_beta(model),
        gamma=float(model.gamma),
        changed=bind is not None,
    )


def keeps_training_mode(analysis: Callable[..., AnalysisResult]) -> Callable[..., AnalysisResult]:
    """Decorate an analysis of ``model`` (its first argument): the policy runs in evaluation mode
    inside it (:func:`as_agent` sets it) and is put back in the mode it was in, so that analysing
    a model in the middle of training leaves it as it was."""

    @functools.wraps(analysis)
    def run(model: Model, *args: Any, **kwargs: Any) -> AnalysisResult:
        owner = model.model if isinstance(model, ChangedObjective) else model
        policy = getattr(owner, "policy", None)
        training = policy.training if isinstance(policy, th.nn.Module) else None
        try:
            return analysis(model, *args, **kwargs)
        finally:
            if training is not None and policy is not None:
                policy.set_training_mode(training)

    return run


def _with_fixed_rollouts(bind: Callable[..., ValueEstimate], device: th.device, obs: PyTorchObs) -> ValueEstimate:
    """``bind(obs)`` with a model-based J's rollout samples fixed: drawn from a private generator with a
    fixed seed and reused in every call, so that every λ compared is valued on the same rollouts and
    the analyses never move torch's global random state (nothing changes for a model-free J)."""
    generator = th.Generator(device=device).manual_seed(ROLLOUT_SEED)
    return bind(obs, generator=generator, common_noise=True)


def repeat_observations(obs: PyTorchObs, times: int) -> PyTorchObs:
    """The batch repeated ``times`` times, whole batch after whole batch: [times·B, ...]."""
    if isinstance(obs, dict):
        return {key: value.repeat(times, *([1] * (value.dim() - 1))) for key, value in obs.items()}
    return obs.repeat(times, *([1] * (obs.dim() - 1)))


def check_beta(value: Any, agent: Agent, training: bool = False) -> float:
    """β of an analysis: the agent's (acting β, or with ``training`` the training β) for None; otherwise a β
    the agent's pessimism accepts (:meth:`~sb3_iterative.pessimism.Pessimism.check`, as the algorithm checks
    its own: TQC's truncation takes an integer count of dropped quantiles)."""
    if value is None:
        return agent.training_beta if training else agent.beta
    agent.pessimism.check("beta", value)
    return float(value)


def _batch_size(states: Any, space: spaces.Space, name: str) -> int:
    try:
        array = np.asarray(states)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of observations: {error}") from None
    shape = space.shape
    assert shape is not None
    if is_image_space(space) and array.ndim == len(shape) + 1:
        array = maybe_transpose(array, space)
    if array.ndim != len(shape) + 1 or array.shape[1:] != shape or array.shape[0] == 0:
        raise ValueError(
            f"{name} must be a batch of observations of shape (n, {', '.join(map(str, shape))}) for this "
            f"model's observation space, got shape {array.shape}"
        )
    return array.shape[0]
