"""The iterative amortized actor (paper Algorithm 2, Eq. 11–12), the iterative part of a policy
(:class:`IterativePolicy`, shared by IterativeSAC and IterativeTQC) and IterativeSACPolicy."""

import contextlib
import functools
import inspect
import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.tqc.policies import Actor as TQCActor
from stable_baselines3.common.policies import BaseModel, BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    CombinedExtractor,
    NatureCNN,
    create_mlp,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN, Actor, SACPolicy
from torch import nn
from torch.nn import functional as F

from sb3_iterative.critics import CRITIC_ARCHITECTURES, HIGHWAY_NET_ARCH, CriticEnsemble, EnsembleQ, make_critic
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.flow_actor import DEFAULT_FLOW_NET_ARCH, DEFAULT_FLOW_TRANSFORMS, FlowActor
from sb3_iterative.model_based import VALUE_ESTIMATORS, ModelBasedQ, ModelBasedValue
from sb3_iterative.objective import ObjectiveEstimate, ValueEstimate, objective, objective_gradient
from sb3_iterative.pessimism import EnsembleStd, Pessimism

ACTOR_KINDS = ("iterative", "direct", "flow")
# The direct actor λ = f_φ(s): SAC's, or sb3-contrib TQC's (the same network, its own class)
DirectActor = Actor | TQCActor
# (x − mean) / (std + 1e−7) in the authors' code; layer_norm puts its epsilon under the root
NORMALIZATION_EPSILON = 1e-14
# SAC's bounds of log σ as 0-dim tensors (exact in every dtype): arithmetic with a Python number
# wraps and casts it on every call, which triples the cost of the operation at acting sizes
LOG_STD_BOUNDS = (th.tensor(float(LOG_STD_MIN)), th.tensor(float(LOG_STD_MAX)))
# Seed of the samples behind ∇_λ J when acting deterministically (and of the model rollouts' samples)
DETERMINISTIC_SEED = 0
ROLLOUT_SEED = 1
# The paper's model-based estimate (Appendix A.5): a 2-step rollout, Retrace λ = 0.9
DEFAULT_ROLLOUT_HORIZON = 2
DEFAULT_RETRACE_LAMBDA = 0.9


@dataclass
class IterativeTrace:
    """The path of one policy optimization, λ_0 → λ_K, for a batch of states.

    ``lambdas[k]`` is (µ_k, log σ_k), each [B, A], for k = 0..K; ``estimates[k]`` is J and
    ∇_λ J at λ_k for k = 0..K−1 (the input of update k + 1). The caller evaluates λ_K with
    the critic it needs (the online one for the actor's loss, the target one for the critic's
    target). ``first_trained`` is the first λ that depends on the actor's parameters: 1 for
    the iterative actor (λ_0 is fixed), 0 for the direct one (λ_0 = f_φ(s)). ``distribution`` is
    the policy's family bound to the states (SAC's tanh-Gaussian, or the flow actor's flow).
    """

    lambdas: list[tuple[th.Tensor, th.Tensor]]
    estimates: list[ObjectiveEstimate]
    gates: list[th.Tensor]
    first_trained: int
    distribution: PolicyDistribution = TANH_GAUSSIAN

    @property
    def mu(self) -> th.Tensor:
        return self.lambdas[-1][0]

    @property
    def log_std(self) -> th.Tensor:
        return self.lambdas[-1][1]


def actor_loss(
    trace: IterativeTrace,
    value_estimate: ValueEstimate,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
) -> tuple[th.Tensor, ObjectiveEstimate]:
    """The actor's loss, the average over trained λ_k of −J(s, λ_k), and J at λ_K.

    Iterative actor (Algorithm 2, one-step truncated): ∂J(λ_k)/∂φ = ∇_λ J(λ_k) · ∂λ_k/∂φ, and
    ∇_λ J(λ_k) is already known, the input of update k + 1 (for λ_K it is computed here). The
    loss is backpropagated through f_φ alone, with no second pass through the critic; since
    λ_{k−1} entered update k detached, no gradient flows along the chain of iterations.
    Direct actor (and the flow actor): nothing to share, so −J(s, f_φ(s)) is backpropagated through
    the critic by autograd, exactly as SAC does.

    :param trace: the optimization, with λ attached to the actor's graph
    :param value_estimate: Q̂_β bound to the observations
    :param noise: ε for the estimate at λ_K [N, B, A]
    :return: the loss to backpropagate (its gradient is that of −mean J) and the estimate at λ_K
    """
    if not trace.estimates:
        final = objective(value_estimate, trace.mu, trace.log_std, noise, ent_coef, beta, trace.distribution)
        return -final.value.mean(), final
    final = objective_gradient(value_estimate, trace.mu, trace.log_std, noise, ent_coef, beta)
    evaluations = [*trace.estimates, final][trace.first_trained :]
    terms = [
        (estimate.gradient[0] * mu).sum(dim=-1) + (estimate.gradient[1] * log_std).sum(dim=-1)
        for (mu, log_std), estimate in zip(trace.lambdas[trace.first_trained :], evaluations, strict=True)
    ]
    surrogate = functools.reduce(operator.add, terms)
    return -surrogate.mean() / len(evaluations), final


def soft_clamp(x: th.Tensor, low: th.Tensor | float, high: th.Tensor | float) -> th.Tensor:
    """A smooth clamp into (low, high) built from softplus, as the authors bound log σ."""
    x = low + F.softplus(x - low)
    return high - F.softplus(high - x)


class IterativeActor(BaseModel):
    """The iterative amortized optimizer f_φ (paper Eq. 11–12, Algorithm 2).

    From λ_0 = (µ = 0, log σ = log ``init_std``), K times::

        (δ, ω) = f_φ(s, λ_{k−1}, ∇_λ J(s, λ_{k−1})),    λ_k = ω ⊙ λ_{k−1} + (1 − ω) ⊙ δ

    with an update δ and a sigmoid gate ω for both µ and log σ. The four action-sized inputs
    (µ, log σ, ∇_µ J, ∇_{log σ} J) are each normalized per state (see :meth:`normalize_inputs`).

    :param observation_space: Observation space
    :param action_space: Action space (Box)
    :param net_arch: hidden layers of f_φ (2 × 256, as SAC's actor, by default)
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function of the hidden layers
    :param normalize_images: Whether to normalize images or not
    :param n_iterations: K, the number of updates per state
    :param n_action_samples: N, the reparameterised samples behind each estimate of ∇_λ J
    :param init_std: σ of λ_0
    """

    action_space: spaces.Box
    ent_coef: th.Tensor  # a buffer: α of J while acting

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_iterations: int = 5,
        n_action_samples: int = 1,
        init_std: float = 0.5,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.n_iterations = n_iterations
        self.n_action_samples = n_action_samples
        self.init_std = init_std
        self.action_dim = get_action_dim(self.action_space)

        input_dim = features_dim + 4 * self.action_dim
        self.latent_pi = nn.Sequential(*create_mlp(input_dim, -1, net_arch, activation_fn))
        last_layer_dim = net_arch[-1] if len(net_arch) > 0 else input_dim
        # [δ_µ, δ_log σ, ω_µ, ω_log σ]; zero-initialised, so every gate starts at 0.5
        self.update_and_gate = nn.Linear(last_layer_dim, 4 * self.action_dim)
        nn.init.zeros_(self.update_and_gate.weight)
        nn.init.zeros_(self.update_and_gate.bias)
        # α of J while acting; the algorithm keeps it equal to its entropy coefficient
        self.register_buffer("ent_coef", th.ones(()))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
                n_iterations=self.n_iterations,
                n_action_samples=self.n_action_samples,
                init_std=self.init_std,
            )
        )
        return data

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: the iterative actor cannot act alone (SB3's ``model.actor.predict`` works for SAC's actor)."""
        raise TypeError(
            "IterativeActor.predict: the iterative actor cannot act alone. It optimizes each action distribution on "
            "J, which reads the critic ensemble (and α), so acting needs the whole policy: use model.predict(obs) "
            "or model.policy.predict(obs). Saving and loading the actor alone (actor.save / IterativeActor.load) works."
        )

    def initial_parameters(self, batch_size: int) -> tuple[th.Tensor, th.Tensor]:
        """λ_0: µ = 0, log σ = log ``init_std``, each [B, A]."""
        mu = th.zeros(batch_size, self.action_dim, device=self.device)
        log_std = th.full_like(mu, math.log(self.init_std))
        return mu, log_std

    def normalize_inputs(self, blocks: th.Tensor) -> th.Tensor:
        """Normalize each action-sized input block [B, 4, A] per state.

        With |A| > 1, each block is standardized across action dimensions (a layer norm
        without affine parameters, the paper's "layer normalization individually to each of
        the inputs"). With |A| = 1 that would zero every input, so each value goes through
        symlog(x) = sign(x)·log(1 + |x|): it keeps the sign of the gradient, the direction to
        move, and compresses its magnitude, which scales with the rewards.
        """
        if self.action_dim == 1:
            return th.sign(blocks) * th.log1p(blocks.abs())
        return F.layer_norm(blocks, (self.action_dim,), eps=NORMALIZATION_EPSILON)

    @property
    def _first_layer(self) -> nn.Linear:
        """The layer that reads f_φ's input [state features, the four normalized blocks]."""
        first = self.latent_pi[0] if len(self.latent_pi) > 0 else self.update_and_gate
        assert isinstance(first, nn.Linear)
        return first

    def state_share(self, features: th.Tensor) -> th.Tensor:
        """W_s·features + b, the state's share of f_φ's first layer [B, width]: the same in every
        iteration, so :meth:`optimize` computes it once per batch and :meth:`update` adds the rest."""
        first = self._first_layer
        return F.linear(features, first.weight[:, : self.features_dim], first.bias)

    def update(
        self,
        state_share: th.Tensor,
        mu: th.Tensor,
        log_std: th.Tensor,
        estimate: ObjectiveEstimate,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """One gated update λ_k = ω ⊙ λ_{k−1} + (1 − ω) ⊙ δ (Eq. 12).

        f_φ's first layer is split at its input: W·[s, x] + b = (W_s·s + b) + W_x·x, with the
        state's share from :meth:`state_share` and x the normalized (µ, log σ, ∇_µ J, ∇_{log σ} J).

        :return: µ_k, log σ_k and the gates ω [B, 2A]
        """
        blocks = th.stack([mu, log_std, *estimate.gradient], dim=1)
        first = self._first_layer
        hidden = th.addmm(state_share, self.normalize_inputs(blocks).flatten(1), first.weight[:, self.features_dim :].t())
        if first is not self.update_and_gate:
            for layer in itertools.islice(self.latent_pi, 1, None):
                hidden = layer(hidden)
            hidden = self.update_and_gate(hidden)
        update_mu, update_log_std, gate_logits = hidden.split([self.action_dim, self.action_dim, 2 * self.action_dim], dim=1)
        gate = th.sigmoid(gate_logits)
        gate_mu, gate_log_std = gate.chunk(2, dim=1)
        # ω ⊙ λ + (1 − ω) ⊙ δ
        mu = th.lerp(update_mu, mu, gate_mu)
        log_std = th.lerp(soft_clamp(update_log_std, LOG_STD_BOUNDS[0], LOG_STD_BOUNDS[1]), log_std, gate_log_std)
        return mu, log_std, gate

    def optimize(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
        with_values: bool = True,
        shared_noise: bool = False,
        initial: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> IterativeTrace:
        """Algorithm 2: K gated updates of λ from λ_0, each fed the state, λ and ∇_λ J.

        λ and ∇_λ J enter each update detached, so a loss on λ_k trains f_φ through update k
        alone. Under ``torch.no_grad()`` (acting, the critic's target) no graph is built.

        :param obs: a batch of B observations
        :param value_estimate: Q̂_β bound to ``obs`` (``IterativeSACPolicy.value_estimate``)
        :param ent_coef: α of J
        :param beta: the pessimism β of J
        :param noise: ε for the K estimates of ∇_λ J [K, N, B, A]; drawn here when None
        :param generator: the random generator for the noise drawn here (None: torch's global one)
        :param with_values: estimate J itself at each λ_k, not only ∇_λ J (training logs it)
        :param shared_noise: draw one set of noise for the whole batch (deterministic acting: an
            observation's λ_K then does not depend on the rest of the batch)
        :param initial: λ_0 = (µ, log σ) [B, A] each, constants (a warm start); None: the fixed λ_0
        """
        assert self.features_extractor is not None
        features = self.extract_features(obs, self.features_extractor)
        state_share = self.state_share(features)
        batch_size = features.shape[0]
        if noise is None:
            noise = self.draw_noise(batch_size, generator, shared_noise)
        mu, log_std = self.initial_parameters(batch_size) if initial is None else initial
        trace = IterativeTrace(lambdas=[(mu, log_std)], estimates=[], gates=[], first_trained=1, distribution=TANH_GAUSSIAN)
        for k in range(self.n_iterations):
            estimate = objective_gradient(value_estimate, mu, log_std, noise[k], ent_coef, beta, with_values)
            mu, log_std, gate = self.update(state_share, mu.detach(), log_std.detach(), estimate)
            trace.estimates.append(estimate)
            trace.lambdas.append((mu, log_std))
            trace.gates.append(gate)
        return trace

    def draw_noise(self, batch_size: int, generator: th.Generator | None = None, shared: bool = False) -> th.Tensor:
        """Standard normal ε for the K estimates of ∇_λ J [K, N, B, A].

        :param generator: the random generator (None: torch's global one)
        :param shared: one set for the whole batch
        """
        shape = (self.n_iterations, self.n_action_samples, 1 if shared else batch_size, self.action_dim)
        return th.randn(shape, generator=generator, device=self.device).expand(-1, -1, batch_size, -1)

    def acting_noise(self, batch_size: int, deterministic: bool) -> th.Tensor:
        """ε for the K estimates of ∇_λ J while acting [K, N, B, A].

        Deterministic actions draw them from a private generator with a fixed seed, one set shared by
        the whole batch: an observation always gets the same action, alone or anywhere in a batch of
        any size, and evaluating does not move torch's global random state (as with SAC's actor).
        """
        generator = th.Generator(device=self.device).manual_seed(DETERMINISTIC_SEED) if deterministic else None
        return self.draw_noise(batch_size, generator, shared=deterministic)

    def optimized_parameters(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor,
        initial: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> tuple[th.Tensor, th.Tensor]:
        """λ_K = (µ_K, log σ_K) for acting: :meth:`optimize` without J's values, only its gradients
        (the part of acting that ``compile_acting`` compiles: tensors in, tensors out)."""
        trace = self.optimize(obs, value_estimate, ent_coef, beta, noise, with_values=False, initial=initial)
        return trace.mu, trace.log_std

    def forward(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        beta: float,
        deterministic: bool = False,
        ent_coef: th.Tensor | float | None = None,
        initial: tuple[th.Tensor, th.Tensor] | None = None,
        optimized_parameters: Callable[..., tuple[th.Tensor, th.Tensor]] | None = None,
    ) -> th.Tensor:
        """Act: optimize λ for ``obs``, then return tanh(µ_K) or a sample of π(·|s; λ_K).

        :param ent_coef: α of J (None: the algorithm's, kept in ``self.ent_coef``)
        :param initial: λ_0 (a warm start); None: the fixed λ_0
        :param optimized_parameters: :meth:`optimized_parameters` compiled (None: as it is)
        """
        noise = self.acting_noise(observation_batch_size(obs), deterministic)
        mu, log_std = (optimized_parameters or self.optimized_parameters)(
            obs, value_estimate, self.ent_coef if ent_coef is None else ent_coef, beta, noise, initial
        )
        if not (th.isfinite(mu).all() & th.isfinite(log_std).all()):
            raise RuntimeError(
                "The iterative actor produced non-finite action parameters: the value estimate returned non-finite "
                "values or gradients while the actor optimized λ. Check the critic (and the rewards) for NaN or inf."
            )
        if deterministic:
            return th.tanh(mu)
        return th.tanh(mu + th.randn_like(mu) * log_std.exp())


def observation_batch_size(obs: Any) -> int:
    """B of a batch of observations (a tensor or an array, or a dict of them)."""
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


class IterativePolicy(BasePolicy):
    """The iterative amortized actor's part of an actor-critic policy, placed before the base policy
    (SB3's :class:`SACPolicy`, sb3-contrib's :class:`TQCPolicy`): ``class P(IterativePolicy, SACPolicy)``.

    It chooses the actor, builds the value estimate inside J from the base's critics with the
    policy's :class:`~sb3_iterative.pessimism.Pessimism` (:meth:`make_pessimism`), and acts by
    optimizing λ. Arguments as the base policy's, plus the following. ``use_sde`` must stay False.

    :param actor: ``"iterative"`` (the paper's iterative amortization, Algorithm 2),
        ``"direct"`` (SAC's actor, λ = f_φ(s): stock SAC when β = 1 with two critics) or ``"flow"``
        (the paper's flow-policy baseline, Appendix B.2: SAC's actor with inverse autoregressive
        transforms between its Gaussian and the tanh, :class:`~sb3_iterative.flow_actor.FlowActor`)
    :param n_iterations: K, updates per state, in training and acting alike; it can be raised
        after training (``policy.n_iterations = 10``), the paper's extra test-time iterations
    :param n_action_samples: N, reparameterised samples per estimate of J and ∇_λ J
    :param init_std: σ of the initial distribution λ_0 (µ = 0)
    :param beta_collect: the pessimism β of J while acting (collection, ``predict``)
    :param critic_arch: ``"A"`` (SAC's MLP critic) or ``"B"`` (3 × 512 ELU, layer norm,
        highway connections; the default ``net_arch`` of its critic is then 3 × 512)
    :param compile_acting: run the iterative actor's acting path through ``torch.compile``:
        about 3× faster ``predict`` on one observation, after about 30 s of compilation for each
        batch size (worth it for deployment and long runs; needs a C++ compiler on CPU); model-free
        value estimate only
    :param value_estimator: the value estimate inside J: ``"critic"`` (the critic ensemble's Q̂_β,
        model-free) or ``"model"`` (a learned model's rollout combined with the critics by Retrace,
        paper Sec. 4.2.5, Eq. 14–16; flat Box observations only)
    :param rollout_horizon: h, the model steps of the model-based estimate (0: the critics alone);
        2 by default with ``value_estimator="model"``, and only with it
    :param retrace_lambda: λ of the model-based estimate's Retrace, in [0, 1]; 0.9 by default with
        ``value_estimator="model"``, and only with it
    :param warm_start: start the iterative optimizer from the distilled direct policy's λ instead of
        the fixed λ_0 (beyond the paper; iterative actor only). ``n_iterations=0`` then acts as the
        distilled policy itself
    :param distilled_target: the critic's target takes its next action from the distilled direct
        policy instead of K iterations on the next observations (as the authors' model-based runs
        did; beyond the paper for the model-free estimate; iterative actor only)
    :param flow_transforms: the flow actor's number of inverse autoregressive transforms; 2 (the
        paper's) by default with ``actor="flow"``, and only with it
    :param flow_net_arch: hidden layers of each transform's network; [256, 256] (the paper's) by
        default with ``actor="flow"``, and only with it
    """

    actor: IterativeActor | DirectActor
    critic: CriticEnsemble
    critic_target: CriticEnsemble
    actor_kwargs: dict[str, Any]
    critic_kwargs: dict[str, Any]
    share_features_extractor: bool
    pessimism: Pessimism

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        use_sde: bool = False,
        n_critics: int = 2,
        actor: str = "iterative",
        n_iterations: int = 5,
        n_action_samples: int = 1,
        init_std: float = 0.5,
        beta_collect: float = 1.0,
        critic_arch: str = "A",
        compile_acting: bool = False,
        value_estimator: str = "critic",
        rollout_horizon: int | None = None,
        retrace_lambda: float | None = None,
        flow_transforms: int | None = None,
        flow_net_arch: list[int] | None = None,
        warm_start: bool = False,
        distilled_target: bool = False,
        **base_kwargs: Any,
    ):
        if use_sde:
            raise ValueError(f"{type(self).__name__} does not support gSDE (use_sde=True)")
        if actor not in ACTOR_KINDS:
            raise ValueError(f"actor must be one of {ACTOR_KINDS}, got {actor!r}")
        if critic_arch not in CRITIC_ARCHITECTURES:
            raise ValueError(f"critic_arch must be one of {CRITIC_ARCHITECTURES}, got {critic_arch!r}")
        for name, value in (("warm_start", warm_start), ("distilled_target", distilled_target)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
            if value and actor != "iterative":
                raise ValueError(f"{name} applies to the iterative actor only (this policy has actor={actor!r})")
        check_count("n_iterations", n_iterations, minimum=0 if warm_start else 1)
        check_count("n_action_samples", n_action_samples)
        check_count("n_critics", n_critics)
        if not (isinstance(init_std, (int, float)) and math.isfinite(init_std) and init_std > 0):
            raise ValueError(f"init_std must be a finite number > 0, got {init_std!r}")
        check_value_estimator(value_estimator, rollout_horizon, retrace_lambda, observation_space)
        if compile_acting and value_estimator == "model":
            raise ValueError("compile_acting applies to the model-free value estimate only (value_estimator='critic')")
        if value_estimator == "model" and actor == "flow":
            raise ValueError(
                "value_estimator='model' needs a Gaussian rollout policy: use it with actor='iterative' or "
                "actor='direct', not actor='flow'"
            )
        check_flow(actor, flow_transforms, flow_net_arch)
        if actor == "flow":
            flow_transforms = DEFAULT_FLOW_TRANSFORMS if flow_transforms is None else flow_transforms
            flow_net_arch = list(DEFAULT_FLOW_NET_ARCH if flow_net_arch is None else flow_net_arch)
        self.flow_transforms = flow_transforms
        self.flow_net_arch = flow_net_arch
        if value_estimator == "model":
            rollout_horizon = DEFAULT_ROLLOUT_HORIZON if rollout_horizon is None else rollout_horizon
            retrace_lambda = DEFAULT_RETRACE_LAMBDA if retrace_lambda is None else float(retrace_lambda)

        self.actor_kind = actor
        self.value_estimator = value_estimator
        self.rollout_horizon = rollout_horizon
        self.retrace_lambda = retrace_lambda
        self.n_action_samples = n_action_samples
        self._n_iterations = n_iterations
        self.warm_start = warm_start
        self.distilled_target = distilled_target
        self.init_std = float(init_std)
        self.beta_collect = beta_collect  # checked, and made a float, once the critics give the pessimism
        self.critic_arch = critic_arch
        self.compile_acting = bool(compile_acting)
        self._compiled_act: Any = None
        base_parameters = inspect.signature(super().__init__).parameters
        for name in base_kwargs:
            if name not in base_parameters:  # as Python says it, naming the user's policy class, not the base
                raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument {name!r}")
        if net_arch is None and critic_arch == "B":
            net_arch = dict(pi=[256, 256], qf=HIGHWAY_NET_ARCH)
        super().__init__(  # type: ignore[call-arg]  # the base policy's (SACPolicy, TQCPolicy) arguments
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            use_sde=use_sde,
            n_critics=n_critics,
            **base_kwargs,
        )

    @property
    def iterative(self) -> bool:
        """Whether the actor is the iterative optimizer (``actor="iterative"``): the one way to ask."""
        return self.actor_kind == "iterative"

    @property
    def n_iterations(self) -> int:
        """K, the iterative actor's number of updates per state."""
        return self._n_iterations

    @n_iterations.setter
    def n_iterations(self, value: int) -> None:
        if not self.iterative:
            raise ValueError(f"n_iterations applies to the iterative actor only (this policy has actor={self.actor_kind!r})")
        check_count("n_iterations", value, minimum=0 if self.warm_start else 1)
        self._n_iterations = value
        self.actor.n_iterations = value

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                share_features_extractor=self.share_features_extractor,
                actor=self.actor_kind,
                n_iterations=self.n_iterations,
                n_action_samples=self.n_action_samples,
                init_std=self.init_std,
                beta_collect=self.beta_collect,
                critic_arch=self.critic_arch,
                compile_acting=self.compile_acting,
                value_estimator=self.value_estimator,
                rollout_horizon=self.rollout_horizon,
                retrace_lambda=self.retrace_lambda,
                flow_transforms=self.flow_transforms,
                flow_net_arch=self.flow_net_arch,
                warm_start=self.warm_start,
                distilled_target=self.distilled_target,
            )
        )
        return data

    def make_pessimism(self) -> Pessimism:
        """How the critics' outputs become Q̂_β (called once the critics exist): the paper's mean − β·std."""
        return EnsembleStd(self.critic.n_critics)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]  # the base policy's
        self.pessimism = self.make_pessimism()
        self.pessimism.check("beta_collect", self.beta_collect)
        self.beta_collect = float(self.beta_collect)
        self.model_based: ModelBasedQ | None = None
        self.rollout_policy: DirectActor | None = None
        if self.value_estimator == "model":
            observation_dim = get_flattened_obs_dim(self.observation_space)
            assert self.rollout_horizon is not None and self.retrace_lambda is not None
            self.model_based = ModelBasedQ(
                observation_dim, get_action_dim(self.action_space), self.rollout_horizon, self.retrace_lambda
            ).to(self.device)
            self.model_based.optimizer = self.optimizer_class(  # type: ignore[call-arg]
                self.model_based.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
            )
        if self.iterative and (self.model_based is not None or self.warm_start or self.distilled_target):
            # A direct policy distilled from the iterative one (KL(π_iter ‖ π_direct)), with its own
            # features extractor: the model's rollout policy, the warm start, the distilled target
            self.rollout_policy = super().make_actor()  # type: ignore[misc]  # the base policy's direct actor
            self.rollout_policy.optimizer = self.optimizer_class(  # type: ignore[call-arg]
                self.rollout_policy.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
            )

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        if self.model_based is not None:
            self.model_based.train(mode)
        if self.rollout_policy is not None:
            self.rollout_policy.set_training_mode(mode)

    def value_estimate(
        self,
        obs: PyTorchObs,
        ent_coef: th.Tensor | float,
        target: bool = False,
        critic_only: bool = False,
        generator: th.Generator | None = None,
        shared_noise: bool = False,
        common_noise: bool = False,
    ) -> ValueEstimate:
        """Q̂_β inside J, bound to ``obs``: the one place that builds it.

        The critic ensemble's estimate, or the model-based one (``value_estimator="model"``: the
        model's rollout with the rollout policy's actions, combined with the critics by Retrace).

        :param ent_coef: α, for the soft values inside a model rollout
        :param target: bootstrap from the target critics (the critic's target) instead of the online ones
        :param critic_only: the critic ensemble's estimate even when the policy is model-based
        :param generator: the random generator of a model rollout's samples (None: torch's global one)
        :param shared_noise: one set of rollout samples for the whole batch (deterministic acting)
        :param common_noise: the same rollout samples in every call (the analyses' fixed samples)
        """
        critic = self.critic_target if target else self.critic
        if self.model_based is None or critic_only:
            return EnsembleQ(critic, obs, self.pessimism)
        rollout_policy = self.model_rollout_policy
        # the model-based estimate reads SB3's critics and SAC's actor (IterativeTQCPolicy refuses it)
        assert isinstance(critic, ContinuousCritic) and isinstance(rollout_policy, Actor)
        return ModelBasedValue(self.model_based, obs, critic, rollout_policy, ent_coef, generator, shared_noise, common_noise)

    @property
    def model_rollout_policy(self) -> DirectActor:
        """The direct policy that acts inside model rollouts: the distilled one, or a direct actor itself."""
        if self.rollout_policy is not None:
            return self.rollout_policy
        assert not isinstance(self.actor, IterativeActor)
        return self.actor

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> IterativeActor | DirectActor:
        if self.actor_kind == "direct":
            return super().make_actor(features_extractor)  # type: ignore[misc]  # the base policy's
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        if self.actor_kind == "flow":
            assert self.flow_transforms is not None and self.flow_net_arch is not None
            return FlowActor(**actor_kwargs, flow_transforms=self.flow_transforms, flow_net_arch=self.flow_net_arch).to(
                self.device
            )
        for direct_only in ("use_sde", "log_std_init", "use_expln", "clip_mean"):
            del actor_kwargs[direct_only]
        return IterativeActor(
            **actor_kwargs,
            n_iterations=self.n_iterations,
            n_action_samples=self.n_action_samples,
            init_std=self.init_std,
        ).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> CriticEnsemble:
        if self.critic_arch == "A":
            return super().make_critic(features_extractor)  # type: ignore[misc]  # the base policy's
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return make_critic(self.critic_arch, **critic_kwargs).to(self.device)

    def sample_noise(self, batch_size: int) -> th.Tensor:
        """Standard normal ε for every estimate of J in one optimization and its evaluation at λ_K.

        :return: [K + 1, N, B, A] for the iterative actor, [1, N, B, A] for the direct one
        """
        n_estimates = self.n_iterations + 1 if self.iterative else 1
        action_dim = get_action_dim(self.action_space)
        return th.randn(n_estimates, self.n_action_samples, batch_size, action_dim, device=self.device)

    def optimize(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor,
        with_values: bool = True,
    ) -> IterativeTrace:
        """The action distribution λ for ``obs``: K iterative updates, or one direct estimate.

        :param noise: from :meth:`sample_noise`; all but its last slice are used here, the last
            is for the caller's evaluation at λ_K
        :param with_values: estimate J itself at each λ_k, not only ∇_λ J
        """
        if isinstance(self.actor, IterativeActor):
            initial = self.initial_parameters(obs)
            return self.actor.optimize(
                obs, value_estimate, ent_coef, beta, noise[:-1], with_values=with_values, initial=initial
            )
        return self.direct_trace(obs)

    def initial_parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor] | None:
        """λ_0 of the iterative optimizer: the distilled policy's (µ, log σ), detached, with ``warm_start``;
        None for the fixed λ_0."""
        if not self.warm_start:
            return None
        assert self.rollout_policy is not None
        with th.no_grad():
            mu, log_std, _ = self.rollout_policy.get_action_dist_params(obs)
        return mu, log_std

    def target_parameters(
        self, next_obs: PyTorchObs, ent_coef: th.Tensor | float, beta: float, noise: th.Tensor
    ) -> tuple[th.Tensor, th.Tensor, PolicyDistribution]:
        """λ' of the critic's target on the next observations: what the policy does there (K iterations
        on the online critics' J, or the direct actor), or the distilled policy's λ with ``distilled_target``.
        The critics' value estimate is built only for the iterations."""
        if self.distilled_target:
            assert self.rollout_policy is not None
            mu, log_std, _ = self.rollout_policy.get_action_dist_params(next_obs)
            return mu, log_std, TANH_GAUSSIAN
        if not self.iterative:
            trace = self.direct_trace(next_obs)
        else:
            value_estimate = self.value_estimate(next_obs, ent_coef, critic_only=True)
            trace = self.optimize(next_obs, value_estimate, ent_coef, beta, noise, with_values=False)
        return trace.mu, trace.log_std, trace.distribution

    def direct_trace(self, obs: PyTorchObs) -> IterativeTrace:
        """The direct (or flow) actor's λ = f_φ(s) for ``obs``, as a path of length one with its family."""
        if isinstance(self.actor, FlowActor):
            mu, log_std, distribution = self.actor.get_flow_params(obs)
            return IterativeTrace(lambdas=[(mu, log_std)], estimates=[], gates=[], first_trained=0, distribution=distribution)
        assert not isinstance(self.actor, IterativeActor)
        mu, log_std, _ = self.actor.get_action_dist_params(obs)
        return IterativeTrace(lambdas=[(mu, log_std)], estimates=[], gates=[], first_trained=0)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        if not isinstance(self.actor, IterativeActor):
            return self.actor(observation, deterministic)
        return self.act_iteratively(observation, deterministic)

    def act_iteratively(
        self,
        observation: PyTorchObs,
        deterministic: bool,
        bind: Callable[[PyTorchObs, th.Generator | None, bool], ValueEstimate] | None = None,
        ent_coef: th.Tensor | float | None = None,
    ) -> th.Tensor:
        """The iterative actor's actions for a batch of observations: the one acting path.

        :param bind: J's value estimate for ``(observation, generator, shared_noise)`` (a changed
            objective's); None: the policy's own (:meth:`value_estimate`)
        :param ent_coef: α of J (None: the algorithm's)
        """
        assert isinstance(self.actor, IterativeActor)
        generator = None
        if deterministic and (bind is not None or self.model_based is not None):  # a model rollout's samples
            generator = th.Generator(device=self.device).manual_seed(ROLLOUT_SEED)
        if bind is None:
            value_estimate = self.value_estimate(
                observation, self.actor.ent_coef, generator=generator, shared_noise=deterministic
            )
        else:
            value_estimate = bind(observation, generator, deterministic)
        initial = self.initial_parameters(observation)
        compiled = self.compiled_optimizer() if bind is None else None  # a changed objective runs eagerly
        if compiled is not None and isinstance(value_estimate, EnsembleQ):
            value_estimate.prepare()
        # With the critics' hand-written action gradient no autograd is needed: inference mode also
        # skips the version counters and autograd's dispatch of the iterations' few hundred small
        # operations. An estimate differentiated by autograd (architecture B, a model) needs grad mode.
        hand_written = isinstance(value_estimate, EnsembleQ) and value_estimate.hand_written_gradient
        with th.inference_mode() if hand_written else contextlib.nullcontext():
            return self.actor(
                observation,
                value_estimate,
                beta=self.beta_collect,
                deterministic=deterministic,
                ent_coef=ent_coef,
                initial=initial,
                optimized_parameters=compiled,
            )

    def compiled_optimizer(self) -> Callable[..., tuple[th.Tensor, th.Tensor]] | None:
        """The actor's :meth:`IterativeActor.optimized_parameters` through ``torch.compile`` with
        ``compile_acting`` (compiled on first use; C++ wrapper code, whose calls cost less than Python's);
        None without."""
        if not self.compile_acting:
            return None
        if self._compiled_act is None:
            assert isinstance(self.actor, IterativeActor)
            self._compiled_act = th.compile(self.actor.optimized_parameters, dynamic=False, options={"cpp_wrapper": True})
        return self._compiled_act


def check_count(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_flow(actor: str, transforms: Any, net_arch: Any) -> None:
    if actor != "flow":
        for name, value in (("flow_transforms", transforms), ("flow_net_arch", net_arch)):
            if value is not None:
                raise ValueError(f"{name} applies to actor='flow' only (this policy has actor={actor!r})")
        return
    if transforms is not None:
        check_count("flow_transforms", transforms)
    if net_arch is not None and (
        not isinstance(net_arch, (list, tuple))
        or not net_arch
        or not all(isinstance(width, int) and not isinstance(width, bool) and width >= 1 for width in net_arch)
    ):
        raise ValueError(f"flow_net_arch must be a non-empty list of layer widths (integers >= 1), got {net_arch!r}")


def check_value_estimator(kind: Any, horizon: Any, retrace_lambda: Any, observation_space: spaces.Space) -> None:
    if kind not in VALUE_ESTIMATORS:
        raise ValueError(f"value_estimator must be one of {VALUE_ESTIMATORS}, got {kind!r}")
    if kind != "model":
        for name, value in (("rollout_horizon", horizon), ("retrace_lambda", retrace_lambda)):
            if value is not None:
                raise ValueError(f"{name} applies to value_estimator='model' only (this policy has value_estimator={kind!r})")
        return
    horizon = DEFAULT_ROLLOUT_HORIZON if horizon is None else horizon
    retrace_lambda = DEFAULT_RETRACE_LAMBDA if retrace_lambda is None else retrace_lambda
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 0:
        raise ValueError(f"rollout_horizon must be an integer >= 0, got {horizon!r}")
    if isinstance(retrace_lambda, bool) or not isinstance(retrace_lambda, (int, float)) or not 0 <= retrace_lambda <= 1:
        raise ValueError(f"retrace_lambda must be a number in [0, 1], got {retrace_lambda!r}")
    if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1):
        raise ValueError(
            "value_estimator='model' needs flat vector observations (a 1-D Box) for the model to predict, got "
            f"{observation_space}; image and dict observations take value_estimator='critic'"
        )


class IterativeSACPolicy(IterativePolicy, SACPolicy):  # type: ignore[misc]  # the actor and critic types widen
    """Policy of IterativeSAC: an iterative (or direct) amortized actor and SB3's critic ensemble, with
    Q̂_β = mean − β·std (paper Eq. 13).

    Arguments as SB3's :class:`SACPolicy` (``net_arch``, ``activation_fn``, ``n_critics``,
    ``share_features_extractor``, ...), plus those of :class:`IterativePolicy`.
    """


MlpPolicy = IterativeSACPolicy


class CnnPolicy(IterativeSACPolicy):
    """IterativeSACPolicy with a NatureCNN features extractor (image observations)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(*args, **kwargs)


class MultiInputPolicy(IterativeSACPolicy):
    """IterativeSACPolicy with a CombinedExtractor (dict observations, e.g. with HerReplayBuffer)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(*args, **kwargs)
