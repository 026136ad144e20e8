"""The model-based value estimate inside J (paper Sec. 4.2.5, Appendix A.5, Eq. 14–16).

From a state s_0 and a candidate action a_0, the learned model rolls out h steps, the rollout
policy choosing the later actions, and the critics' pessimistic estimates along the way are
combined with the predicted rewards by Retrace with trace λ (no importance weights, no
termination inside a rollout), as the authors' code computes it:

    Q_i = Q̂_β(s_i, a_i),  r̂_i = r(s_i, a_i),  s_{i+1} = model(s_i, a_i),
    a_{i+1} ~ π_roll(·|s_{i+1}) (one reparameterised sample),  k_{i+1} = α·log π_roll(a_{i+1}|s_{i+1}),
    δ_i = r̂_i + γ·(Q_{i+1} − k_{i+1}) − Q_i,
    Q̂_MB(s_0, a_0) = Q_0 + Σ_{i=0}^{h−1} (γλ)^i δ_i

h counts model steps: h rewards and h predicted states (Eq. 14's written limits would give h + 1
terms; the authors' code, followed here, sums h). h = 0 is the critic's Q̂_β; λ = 1 gives the
discounted h-step soft return; γ = 0 gives r̂_0. The sum is computed by its equivalent backward
recursion G_h = Q_h, G_i = r̂_i + γ·((1 − λ)·Q_{i+1} + λ·G_{i+1} − k_{i+1}), G_0 = Q̂_MB, in which
Q_0 cancels: h critic evaluations instead of h + 1.

Gradients: ∇_a flows through r̂_0, the predicted states, the reparameterised rollout actions and
the critics, so an iterative optimizer plans through the model (Fig. 13b, c). No gradient reaches
the parameters of the critics, the model or the rollout policy from J: they are constants of the
objective (for a direct agent the rollout policy is the actor itself, which J must not train
through its future actions).
"""

import contextlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples
from stable_baselines3.sac.policies import Actor
from torch import nn

from sb3_iterative.critics import CriticEnsemble
from sb3_iterative.distributions import TANH_GAUSSIAN
from sb3_iterative.model_based.dynamics import DynamicsModel
from sb3_iterative.objective import ENSEMBLE_STD, ValueEstimate, autograd_value_gradient, noise_plan
from sb3_iterative.pessimism import Pessimism
from sb3_iterative.value_estimators import ValueEstimator, register_value_estimator

if TYPE_CHECKING:
    from sb3_iterative.common.amortizers import BaseAmortizer

# The paper's model-based estimate (Appendix A.5): a 2-step rollout, Retrace λ = 0.9
DEFAULT_ROLLOUT_HORIZON = 2
DEFAULT_RETRACE_LAMBDA = 0.9
# The paper's model pre-training (Appendix A.5): 1 000 model-only updates after the random steps
DEFAULT_MODEL_PRETRAIN_STEPS = 1000


@contextmanager
def parameters_as_constants(*modules: nn.Module) -> Iterator[None]:
    """Build graphs through ``modules`` with their parameters as constants (gradients reach inputs only)."""
    parameters = [param for module in modules for param in module.parameters() if param.requires_grad]
    for param in parameters:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in parameters:
            param.requires_grad_(True)


@register_value_estimator
class ModelValueEstimator(ValueEstimator):
    """The model-based value estimate as a component of the policy (``value_estimator="model"``): the model,
    its optimizer and training step, and the settings h, λ and γ; it builds :class:`ModelBasedValue`.

    Options of the policy: ``rollout_horizon`` (h, 2 by default) and ``retrace_lambda`` (λ, 0.9 by default).
    Options of the algorithm: ``model_pretrain_steps`` (1 000 by default) and ``model_based_target`` (True by
    default: λ' of the critic's target is the direct policy's, valued by this estimate on the target critics).

    :param observation_dim: |S| (flat Box observations)
    :param action_dim: |A|
    :param horizon: h, the model steps of a rollout (0: the critic alone)
    :param retrace_lambda: λ, the trace of Retrace (0: one-step soft return; 1: h-step soft return)
    """

    kind = "model"
    policy_options: ClassVar[Mapping[str, Any]] = {
        "rollout_horizon": DEFAULT_ROLLOUT_HORIZON,
        "retrace_lambda": DEFAULT_RETRACE_LAMBDA,
    }
    training_options: ClassVar[Mapping[str, Any]] = {
        "model_pretrain_steps": DEFAULT_MODEL_PRETRAIN_STEPS,
        "model_based_target": True,
    }
    reads_direct_policy = True
    draws_samples = True
    optimizer_names = ("optimizer",)
    divergence_hint = (
        "; with value_estimator='model', the model's predictions may have diverged: check its losses "
        "(train/model_state_loss, train/model_reward_loss) and the observations' scale"
    )

    gamma: th.Tensor
    optimizer: th.optim.Optimizer  # set by make(), or by whoever builds one alone

    def __init__(self, observation_dim: int, action_dim: int, horizon: int = 2, retrace_lambda: float = 0.9):
        super().__init__()
        self.dynamics = DynamicsModel(observation_dim, action_dim)
        self.horizon = horizon
        self.retrace_lambda = retrace_lambda
        # γ of the estimate; the algorithm keeps it equal to its own discount
        self.register_buffer("gamma", th.tensor(0.99))

    @classmethod
    def check_options(
        cls, options: Mapping[str, Any], actor: "type[BaseAmortizer]", compile_acting: bool, observation_space: spaces.Space
    ) -> dict[str, Any]:
        checked = super().check_options(options, actor, compile_acting, observation_space)
        horizon, retrace_lambda = checked["rollout_horizon"], checked["retrace_lambda"]
        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 0:
            raise ValueError(f"rollout_horizon must be an integer >= 0, got {horizon!r}")
        if isinstance(retrace_lambda, bool) or not isinstance(retrace_lambda, (int, float)) or not 0 <= retrace_lambda <= 1:
            raise ValueError(f"retrace_lambda must be a number in [0, 1], got {retrace_lambda!r}")
        if not (isinstance(observation_space, spaces.Box) and len(observation_space.shape) == 1):
            raise ValueError(
                "value_estimator='model' needs flat vector observations (a 1-D Box) for the model to predict, got "
                f"{observation_space}; image and dict observations take value_estimator='critic'"
            )
        if not actor.tanh_gaussian:
            raise ValueError(
                "value_estimator='model' needs a Gaussian rollout policy: use it with actor='iterative' or "
                f"actor='direct', not actor={actor.kind!r}"
            )
        checked["retrace_lambda"] = float(retrace_lambda)
        return checked

    @classmethod
    def make(
        cls,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        options: Mapping[str, Any],
        make_optimizer: Callable[[Iterator[nn.Parameter]], th.optim.Optimizer],
        device: th.device | str = "cpu",
    ) -> "ModelValueEstimator":
        estimator = cls(
            get_flattened_obs_dim(observation_space),
            get_action_dim(action_space),
            options["rollout_horizon"],
            options["retrace_lambda"],
        ).to(device)
        estimator.optimizer = make_optimizer(estimator.parameters())
        return estimator

    @classmethod
    def check_training_options(cls, options: Mapping[str, Any]) -> dict[str, Any]:
        checked = super().check_training_options(options)
        steps = checked["model_pretrain_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"model_pretrain_steps must be an integer >= 0, got {steps!r}")
        if not isinstance(checked["model_based_target"], bool):
            raise ValueError(f"model_based_target must be True or False, got {checked['model_based_target']!r}")
        return checked

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
        # the rollout reads SB3's critics and SAC's actor (IterativeTQC and IterativeCrossQ refuse the model)
        assert isinstance(critic, ContinuousCritic) and isinstance(direct_policy, Actor)
        return ModelBasedValue(self, obs, critic, direct_policy, ent_coef, generator, shared_noise, common_noise, pessimism)

    def fit(self, replay_data: ReplayBufferSamples) -> dict[str, th.Tensor]:
        """One maximum-likelihood step of the model on a replay batch, with its optimizer: its state and reward losses."""
        state_loss, reward_loss = self.dynamics.loss(
            replay_data.observations, replay_data.actions, replay_data.next_observations, replay_data.rewards
        )
        self.optimizer.zero_grad()
        (state_loss + reward_loss).backward()
        self.optimizer.step()
        return {"model_state_loss": state_loss.detach(), "model_reward_loss": reward_loss.detach()}

    def pretraining_steps(self, training_options: Mapping[str, Any]) -> int:
        return int(training_options["model_pretrain_steps"])

    def set_gamma(self, gamma: float) -> None:
        self.gamma.fill_(gamma)

    def values_target(self, training_options: Mapping[str, Any]) -> bool:
        """With ``model_based_target``, as in the authors' model-based runs."""
        return bool(training_options["model_based_target"])

    def target_parameters(self, next_obs: PyTorchObs, direct_policy: Any) -> tuple[th.Tensor, th.Tensor]:
        """The direct policy's λ'."""
        mu, log_std, _ = direct_policy.get_action_dist_params(next_obs)
        return mu, log_std


class ModelBasedValue:
    """Q̂_MB(s_0, a) for a batch of B observations s_0: a :class:`sb3_iterative.objective.ValueEstimate`.

    :param estimator: the model and the settings (the policy's component)
    :param obs: the observations s_0 [B, |S|]
    :param critic: the critic ensemble whose Q̂_β is bootstrapped from
    :param rollout_policy: the direct policy choosing a_1 .. a_h
    :param ent_coef: α of the rollout's soft values
    :param generator: the random generator of the rollout actions' noise (None: torch's global one)
    :param shared_noise: one set of rollout noise for the whole batch (deterministic acting: a state's
        estimate then does not depend on the rest of the batch)
    :param common_noise: draw the rollout noise once per shape and reuse it in every call (the
        analyses: every λ compared is valued on the same rollout samples); otherwise each call draws
        anew, as each estimate of J draws its own samples of a_0
    :param pessimism: how the critics' outputs become Q̂_β at the rollout's states (the policy's; the paper's
        mean − β·std by default)
    """

    def __init__(
        self,
        estimator: ModelValueEstimator,
        obs: PyTorchObs,
        critic: ContinuousCritic,
        rollout_policy: Actor,
        ent_coef: th.Tensor | float,
        generator: th.Generator | None = None,
        shared_noise: bool = False,
        common_noise: bool = False,
        pessimism: Pessimism = ENSEMBLE_STD,
    ):
        assert isinstance(obs, th.Tensor)
        self.estimator = estimator
        self.obs = obs.float().reshape(obs.shape[0], -1)
        self.critic = critic
        self.rollout_policy = rollout_policy
        self.ent_coef = ent_coef
        self.generator = generator
        self.shared_noise = shared_noise
        self.pessimism = pessimism
        self._common_noise: dict[tuple[int, ...], th.Tensor] | None = {} if common_noise else None
        # compiled acting (:meth:`before_compiled`): the rollouts' noise drawn ahead, one slice per call
        self._ahead: th.Tensor | None = None
        self._calls = 0

    def before_compiled(self, n_calls: int, n_samples: int, batch_size: int, action_dim: int) -> None:
        """Ready the estimate for a compiled region that calls it ``n_calls`` times (compiled acting: K gradients
        of J): the rollouts' noise for every call is drawn now, from the same generator in the same order as the
        calls would draw it, so that the region has no generator to trace; the region then neither checks the
        model's predictions (the actor checks the λ they lead to) nor makes the parameters constants (acting
        backpropagates into the actions only)."""
        shape = (self.estimator.horizon, n_samples, 1 if self.shared_noise else batch_size, action_dim)
        # one draw per call, as the calls draw (one draw of them all would give other numbers: torch's CPU
        # normal fills a tensor of 16 or more elements by another algorithm than a smaller one)
        draws = [noise_plan(*shape, self.generator, device=self.obs.device) for _ in range(n_calls)]
        self._ahead = th.stack(draws).expand(-1, -1, -1, batch_size, -1)
        self._calls = 0

    def value(self, actions: th.Tensor, beta: float) -> th.Tensor:
        """Q̂_MB [N, B] of the first actions a_0 [N, B, A], differentiable in them."""
        trajectory = self.rollout(actions, beta)
        gamma, trace = self.estimator.gamma, self.estimator.retrace_lambda
        estimate = trajectory.q_values[-1]
        for step in reversed(range(self.estimator.horizon)):
            bootstrap = (1 - trace) * trajectory.q_values[step + 1] + trace * estimate
            estimate = trajectory.rewards[step] + gamma * (bootstrap - trajectory.entropy_terms[step])
        return estimate

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        return autograd_value_gradient(self, actions, beta)

    def rollout(self, actions: th.Tensor, beta: float, deterministic: bool = False) -> "Rollout":
        """The model's rollout from s_0 with first actions a_0 [N, B, A].

        With ``deterministic`` the rollout policy's actions are tanh of its means (the planned
        trajectories of Fig. 13b); otherwise one reparameterised sample each. Q values are
        computed at the predicted steps s_1 .. s_h (and at s_0 only when h = 0).
        """
        n_samples, batch_size, action_dim = actions.shape
        horizon = self.estimator.horizon
        states = [self.obs.expand(n_samples, -1, -1)]
        rewards, entropy_terms, q_values = [], [], []
        compiled = self._ahead is not None  # before the draw: the last call ahead clears it
        # the model's predictions checked here while acting eagerly; in training non-finite predictions make J
        # non-finite, which train() checks once at its end (no host synchronization inside a gradient step), and a
        # compiled act leaves the check to the actor's output
        check = not (compiled or self.estimator.training)
        noise = None if deterministic or horizon == 0 else self._noise(horizon, n_samples, batch_size, action_dim)
        constants = (
            contextlib.nullcontext() if compiled else parameters_as_constants(self.critic, self.estimator, self.rollout_policy)
        )
        with constants:
            if horizon == 0:
                q_values.append(self._q_hat(states[0], actions, beta))
            for step in range(horizon):
                next_states, reward = self.estimator.dynamics(states[-1], actions)
                if check and not (th.isfinite(next_states).all() and th.isfinite(reward).all()):
                    raise RuntimeError(
                        "The model-based value estimate: the model predicted non-finite states or rewards "
                        "(the model diverged); check the model's losses (train/model_state_loss, "
                        "train/model_reward_loss) and the observations' scale"
                    )
                mu, log_std, _ = self.rollout_policy.get_action_dist_params(next_states.reshape(-1, next_states.shape[-1]))
                mu, log_std = mu.view(n_samples, batch_size, -1), log_std.view(n_samples, batch_size, -1)
                if noise is None:
                    actions = TANH_GAUSSIAN.mode(mu, log_std)
                    entropy_terms.append(th.zeros_like(reward))
                else:
                    actions, log_prob = TANH_GAUSSIAN.sample(mu, log_std, noise[step])
                    entropy_terms.append(self.ent_coef * log_prob)
                states.append(next_states)
                rewards.append(reward)
                q_values.append(self._q_hat(next_states, actions, beta))
        if horizon > 0:
            q_values.insert(0, th.full_like(rewards[0], float("nan")))  # Q_0 cancels from Q̂_MB: not computed
        return Rollout(states=states, rewards=rewards, entropy_terms=entropy_terms, q_values=q_values)

    def _q_hat(self, states: th.Tensor, actions: th.Tensor, beta: float) -> th.Tensor:
        """Q̂_β [N, B] of the critic ensemble at states [N, B, |S|] and actions [N, B, A], differentiable in both."""
        n_samples, batch_size, _ = actions.shape
        features = self.critic.extract_features(states.reshape(n_samples * batch_size, -1), self.critic.features_extractor)
        inputs = th.cat([features, actions.reshape(n_samples * batch_size, -1)], dim=1)
        q_values = th.cat([q_net(inputs) for q_net in self.critic.q_networks], dim=1)
        return self.pessimism.value(q_values.view(n_samples, batch_size, -1), beta)

    def _noise(self, horizon: int, n_samples: int, batch_size: int, action_dim: int) -> th.Tensor:
        """ε of the rollout actions [h, N, B, A] (the noise plan's, one draw for the h steps; a shared draw is one
        state's, expanded to the batch)."""
        if self._ahead is not None:
            noise = self._ahead[self._calls]
            self._calls += 1
            if self._calls == self._ahead.shape[0]:  # every call ahead made: later calls are eager ones again
                self._ahead = None
            return noise
        shape = (horizon, n_samples, 1 if self.shared_noise else batch_size, action_dim)
        if self._common_noise is not None and shape in self._common_noise:
            return self._common_noise[shape].expand(-1, -1, batch_size, -1)
        noise = noise_plan(*shape, self.generator, device=self.obs.device)
        if self._common_noise is not None:
            self._common_noise[shape] = noise
        return noise.expand(-1, -1, batch_size, -1)


@dataclass
class Rollout:
    """A model rollout from s_0, each entry [N, B] (states [N, B, |S|])."""

    states: list[th.Tensor]  # s_0 .. s_h
    rewards: list[th.Tensor]  # r̂_0 .. r̂_{h−1}
    entropy_terms: list[th.Tensor]  # k_1 .. k_h = α·log π_roll(a_i|s_i) (0 for a deterministic rollout)
    q_values: list[th.Tensor]  # Q̂_β at steps 0 .. h (Q_0 is NaN when h > 0: it cancels, and is not computed)
