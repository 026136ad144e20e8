"""IterativeSAC: SAC with an iterative amortized actor and a pessimistic critic target."""

from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import recursive_getattr
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, ReplayBufferSamples, Schedule
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_iterative.critics import CriticEnsemble
from sb3_iterative.iterative_sac.policies import (
    CnnPolicy,
    DirectActor,
    IterativeActor,
    IterativePolicy,
    IterativeSACPolicy,
    MlpPolicy,
    MultiInputPolicy,
    actor_loss,
)
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.model_based import distillation_kl
from sb3_iterative.objective import objective

SelfIterativeSAC = TypeVar("SelfIterativeSAC", bound="IterativeSAC")
# The paper's model pre-training (Appendix A.5): 1 000 model-only updates after the random steps
DEFAULT_MODEL_PRETRAIN_STEPS = 1000


class IterativeAmortization(OffPolicyAlgorithm):
    """The iterative amortized actor's training, placed before an SB3 soft actor-critic in the bases
    (``class IterativeSAC(IterativeAmortization, SAC)``, ``class IterativeTQC(IterativeAmortization, TQC)``).

    It replaces the base's ``train()``: each gradient step fits the critics to their target
    (:meth:`_critic_loss`, the one part each algorithm writes), then optimizes λ with K iterations
    on J and trains the optimizer (Algorithm 2), then α; with a model-based value estimate or a
    distilled policy, those train on the same batch. The policy is an
    :class:`~sb3_iterative.iterative_sac.policies.IterativePolicy`.
    """

    policy: IterativePolicy  # type: ignore[assignment]
    actor: IterativeActor | DirectActor
    critic: CriticEnsemble
    critic_target: CriticEnsemble
    beta: float
    log_ent_coef: th.Tensor | None
    ent_coef_optimizer: th.optim.Adam | None
    ent_coef_tensor: th.Tensor
    target_entropy: float
    target_update_interval: int
    batch_norm_stats: list[th.Tensor]
    batch_norm_stats_target: list[th.Tensor]

    def _set_iterative_options(
        self,
        beta: float,
        use_sde: bool,
        use_sde_at_warmup: bool,
        policy_kwargs: dict[str, Any] | None,
        model_pretrain_steps: int | None = None,
        model_based_target: bool | None = None,
    ) -> None:
        """Check and keep the iterative options, before the base algorithm's ``__init__``."""
        if use_sde or use_sde_at_warmup:
            raise ValueError(
                f"{type(self).__name__} does not support gSDE (use_sde=True): the iterative actor has no state-dependent noise"
            )
        if (policy_kwargs or {}).get("value_estimator", "critic") != "model":
            for name, value in (("model_pretrain_steps", model_pretrain_steps), ("model_based_target", model_based_target)):
                if value is not None:
                    raise ValueError(
                        f"{name} applies to the model-based value estimate only (policy_kwargs=dict(value_estimator='model'))"
                    )
        self.beta = beta
        self.model_pretrain_steps = model_pretrain_steps
        self.model_based_target = model_based_target
        self._model_pretrained = False

    @classmethod
    def _wrap_env(cls, env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:  # type: ignore[override]
        # SB3 only asserts the action space after wrapping; say what is needed instead
        if not isinstance(env.action_space, spaces.Box):
            raise ValueError(
                f"env: {cls.__name__} needs a continuous action space (gymnasium.spaces.Box), got {env.action_space}"
            )
        return OffPolicyAlgorithm._wrap_env(env, verbose, monitor_wrapper)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._check_pessimism()
        self.beta = float(self.beta)
        self._check_model_based_options()
        self._sync_gamma()
        self._sync_ent_coef(self._current_ent_coef())

    def _check_pessimism(self) -> None:
        """The algorithm's pessimism arguments, against the policy's pessimism (its critics)."""
        self.policy.pessimism.check("beta", self.beta)

    def _check_model_based_options(self) -> None:
        """The model-based training options, with their defaults (a model-free agent refuses them in __init__)."""
        if self.policy.model_based is None:
            return
        if self.model_pretrain_steps is None:
            self.model_pretrain_steps = DEFAULT_MODEL_PRETRAIN_STEPS
        if self.model_based_target is None:
            self.model_based_target = True
        steps = self.model_pretrain_steps
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"model_pretrain_steps must be an integer >= 0, got {steps!r}")
        if not isinstance(self.model_based_target, bool):
            raise ValueError(f"model_based_target must be True or False, got {self.model_based_target!r}")

    def _sync_gamma(self) -> None:
        """The model-based estimate discounts with the algorithm's γ (kept in the policy for acting alone)."""
        if self.policy.model_based is not None:
            self.policy.model_based.gamma.fill_(self.gamma)

    def set_parameters(self, *args: Any, **kwargs: Any) -> None:
        super().set_parameters(*args, **kwargs)
        self._sync_gamma()  # loading restores the saved γ; the algorithm's (e.g. load(..., gamma=...)) wins

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return state_dicts + self._model_optimizer_names(), variables

    def _model_optimizer_names(self) -> list[str]:
        """The optimizers of the model and the distilled rollout policy, as save/load names them."""
        names = []
        if self.policy.model_based is not None:
            names.append("policy.model_based.optimizer")
        if self.policy.rollout_policy is not None:
            names.append("policy.rollout_policy.optimizer")
        return names

    def _current_ent_coef(self) -> th.Tensor:
        """α, detached from its optimizer's graph."""
        if self.log_ent_coef is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    def _sync_ent_coef(self, ent_coef: th.Tensor) -> None:
        """The iterative actor optimizes J with α while acting: keep its copy current."""
        if isinstance(self.actor, IterativeActor):
            self.actor.ent_coef.copy_(ent_coef.reshape(()))

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        # The whole of SAC.train() is replaced: its actor step, its critic target and its
        # entropy step all read the actor through SAC's one-pass Actor API.
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        optimizers += [recursive_getattr(self, name) for name in self._model_optimizer_names()]
        self._update_learning_rate(optimizers)

        logs: dict[str, list[float]] = {
            "ent_coef": [],
            "ent_coef_loss": [],
            "actor_loss": [],
            "critic_loss": [],
            "objective_improvement": [],
            "gate_mean": [],
            "model_state_loss": [],
            "model_reward_loss": [],
            "distillation_kl": [],
        }
        self._sync_gamma()
        if self.policy.model_based is not None and not self._model_pretrained:
            assert self.model_pretrain_steps is not None  # its default is set with the model
            for _ in range(self.model_pretrain_steps):
                self._train_model(self.replay_buffer.sample(batch_size, env=self._vec_normalize_env))  # type: ignore[union-attr]
            self._model_pretrained = True

        if self.policy.iterative and self.policy.n_iterations == 0:
            raise ValueError(
                "n_iterations=0 leaves the iterative actor nothing to train (it acts as the warm start's distilled "
                "policy); train with n_iterations >= 1"
            )
        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            # For n-step replay, the discount is gamma**n_steps (when no early termination)
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            ent_coef = self._current_ent_coef()
            logs["ent_coef"].append(ent_coef.item())

            # ε for the current observations first, then the next ones: SAC's order of draws
            noise = self.policy.sample_noise(batch_size)
            next_noise = self.policy.sample_noise(batch_size)

            if self.policy.model_based is not None:
                state_loss, reward_loss = self._train_model(replay_data)
                logs["model_state_loss"].append(state_loss)
                logs["model_reward_loss"].append(reward_loss)

            critic_loss = self._critic_loss(replay_data, discounts, ent_coef, next_noise)
            logs["critic_loss"].append(critic_loss.item())
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()

            # The actor optimizes J on the updated critics; every estimate of ∇_λ J is both the
            # next update's input and a term of the loss
            value_estimate = self.policy.value_estimate(replay_data.observations, ent_coef)
            trace = self.policy.optimize(replay_data.observations, value_estimate, ent_coef, self.beta, noise)
            loss, final = actor_loss(trace, value_estimate, noise[-1], ent_coef, self.beta)
            if not th.isfinite(final.value).all():
                raise RuntimeError(
                    "The value estimate returned non-finite values while the actor optimized J: training diverged "
                    "(check the rewards and the learning rate)"
                )
            trained_values = [estimate.value for estimate in [*trace.estimates, final][trace.first_trained :]]
            logs["actor_loss"].append(-th.stack(trained_values).mean().item())  # −mean_k J(λ_k)
            if trace.estimates:  # the iterative actor: J(λ_K) − J(λ_0), the paper's per-step improvement
                logs["objective_improvement"].append((final.value - trace.estimates[0].value).mean().item())
                logs["gate_mean"].append(th.stack(trace.gates).mean().item())

            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                log_prob = final.log_prob.mean(dim=0)
                ent_coef_loss = -(self.log_ent_coef * (log_prob + float(self.target_entropy)).detach()).mean()
                logs["ent_coef_loss"].append(ent_coef_loss.item())
                self.ent_coef_optimizer.zero_grad()
                ent_coef_loss.backward()
                self.ent_coef_optimizer.step()
                self._sync_ent_coef(self._current_ent_coef())

            self.actor.optimizer.zero_grad()
            loss.backward()
            self.actor.optimizer.step()

            if self.policy.rollout_policy is not None:
                logs["distillation_kl"].append(self._distill(replay_data.observations, trace.mu, trace.log_std))

            if gradient_step % self.target_update_interval == 0:
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                # Copy running stats, see SB3 GH issue #996
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/beta", self.beta)
        for key, values in logs.items():
            if values:
                self.logger.record(f"train/{key}", np.mean(values))

    def _critic_loss(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor, next_noise: th.Tensor
    ) -> th.Tensor:
        """The critics' loss on a replay batch, against their target (the part each algorithm writes).

        :param discounts: γ, or γ^n of n-step replay
        :param next_noise: ε for the next observations' K iterations and the target's evaluation at λ' [K + 1, N, B, A]
        """
        raise NotImplementedError

    def _train_model(self, replay_data: ReplayBufferSamples) -> tuple[float, float]:
        """One maximum-likelihood step of the model on a replay batch: its state and reward losses."""
        model_based = self.policy.model_based
        assert model_based is not None
        state_loss, reward_loss = model_based.dynamics.loss(
            replay_data.observations, replay_data.actions, replay_data.next_observations, replay_data.rewards
        )
        model_based.optimizer.zero_grad()
        (state_loss + reward_loss).backward()
        model_based.optimizer.step()
        return state_loss.item(), reward_loss.item()

    def _distill(self, obs: PyTorchObs, mu: th.Tensor, log_std: th.Tensor) -> float:
        """One step of the rollout policy towards the iterative optimizer's λ_K: KL(π_iter ‖ π_direct)."""
        rollout_policy = self.policy.rollout_policy
        assert rollout_policy is not None
        mu_direct, log_std_direct, _ = rollout_policy.get_action_dist_params(obs)
        kl = distillation_kl(mu.detach(), log_std.detach(), mu_direct, log_std_direct).mean()
        rollout_policy.optimizer.zero_grad()
        kl.backward()
        rollout_policy.optimizer.step()
        return kl.item()

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The model is rebuilt from policy_kwargs on load: keep test-time iterations set on the policy
        if self.policy.iterative:
            self.policy_kwargs = {**self.policy_kwargs, "n_iterations": self.policy.n_iterations}
        super().save(*args, **kwargs)


class IterativeSAC(IterativeAmortization, SAC):  # type: ignore[misc]
    """
    Iterative amortized policy optimization on top of Soft Actor-Critic.

    Paper: "Iterative Amortized Policy Optimization", Marino, Piché, Ialongo, Yue (NeurIPS 2021),
    https://arxiv.org/abs/2010.10670

    The actor does not map a state to its action distribution in one pass: it optimizes the
    distribution's parameters λ = (µ, log σ) with K learned, gated updates driven by ∇_λ J,
    where J(s, λ) = E[Q̂_β(s, a)] + α·H(π) and Q̂_β = mean − β·std over the critics. Because
    that optimizer exploits critic errors more than a direct actor, training uses a pessimistic
    β (critic target, the actor's objective and the target's next actions), while acting uses
    ``beta_collect`` (a policy keyword, 1 by default).

    Every argument of :class:`stable_baselines3.SAC` is accepted and means the same, except
    ``use_sde``, which must stay False. The iterative options are policy keywords
    (``policy_kwargs=dict(n_iterations=5, n_action_samples=1, init_std=0.5, beta_collect=1.0,
    actor="iterative", critic_arch="A")``, see :class:`IterativeSACPolicy`). ``actor="flow"`` is the
    paper's flow-policy baseline (Appendix B.2): SAC's direct actor with a normalizing-flow policy, the
    rest of SAC unchanged (with ``beta=1``).

    Model-based value estimates (paper Sec. 4.2.5): with ``policy_kwargs=dict(value_estimator="model")``
    J's value is a short rollout of a learned model combined with the critics by Retrace. The model
    pre-trains on the random initial steps (``model_pretrain_steps`` updates at the first training
    call), then trains by maximum likelihood on every sampled batch; an iterative agent also distils
    a direct rollout policy from its optimizer by KL(π_iter ‖ π_direct).

    :param policy: The policy model to use (MlpPolicy, CnnPolicy, MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: learning rate for adam optimizer, for all networks; it can be a function
        of the current progress remaining (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts
    :param batch_size: Minibatch size for each gradient update
    :param tau: the soft update coefficient ("Polyak update", between 0 and 1)
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps, or a tuple like ``(5, "step")``
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps)
    :param action_noise: the action noise type (None by default)
    :param replay_buffer_class: Replay buffer class to use (for instance ``HerReplayBuffer``)
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns for the critic target (as in SAC)
    :param ent_coef: Entropy coefficient α; 'auto' (or 'auto_0.1') learns it to hold the entropy at
        ``target_entropy``
    :param target_update_interval: update the target network every ``target_update_interval`` gradient steps
    :param target_entropy: target entropy when learning ``ent_coef``
    :param use_sde: must be False: the iterative actor has no gSDE
    :param sde_sample_freq: unused (gSDE)
    :param use_sde_at_warmup: unused (gSDE)
    :param stats_window_size: Window size for the rollout logging
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 none, 1 info, 2 debug
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run
    :param beta: β, the training pessimism of Q̂_β = mean − β·std (paper Eq. 13): 2.5 in the paper
        (1.5 on Hopper); β = 1 with two critics is SAC's min(Q1, Q2)
    :param model_pretrain_steps: model-only updates once the random initial steps are collected
        (model-based value estimate only; 1 000 by default, as the paper)
    :param model_based_target: the critic's target with the model-based estimate (the target critics
        bootstrapped through the model, the next action from the rollout policy; the paper's Table 9)
        instead of the model-free target (model-based value estimate only; True by default)
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: IterativeSACPolicy

    def __init__(
        self,
        policy: str | type[IterativeSACPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        beta: float = 2.5,
        model_pretrain_steps: int | None = None,
        model_based_target: bool | None = None,
        _init_setup_model: bool = True,
    ):
        self._set_iterative_options(beta, use_sde, use_sde_at_warmup, policy_kwargs, model_pretrain_steps, model_based_target)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            ent_coef=ent_coef,
            target_update_interval=target_update_interval,
            target_entropy=target_entropy,
            use_sde=use_sde,
            sde_sample_freq=sde_sample_freq,
            use_sde_at_warmup=use_sde_at_warmup,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=_init_setup_model,
        )

    def _critic_loss(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor, next_noise: th.Tensor
    ) -> th.Tensor:
        """SAC's: the mean squared error of each critic to y = r + γ (1 − done) J_target(s', λ')."""
        with th.no_grad():
            next_value = self._next_value(replay_data.next_observations, ent_coef, next_noise)
            target_q_values = replay_data.rewards + (1 - replay_data.dones) * discounts * next_value
        current_q_values = self.critic(replay_data.observations, replay_data.actions)
        critic_loss = 0.5 * sum(F.mse_loss(current_q, target_q_values) for current_q in current_q_values)
        assert isinstance(critic_loss, th.Tensor)
        return critic_loss

    def _next_value(self, next_obs: PyTorchObs, ent_coef: th.Tensor, next_noise: th.Tensor) -> th.Tensor:
        """J_target(s', λ') [B, 1], the soft value in the critic's target y = r + γ (1 − done) J_target(s', λ').

        Model-free: λ' is what the policy does on s' (its K iterations on the online critics' J; the
        distilled policy's λ with ``distilled_target``), and the target critics value it. Model-based
        (``model_based_target``): λ' is the rollout policy's, as in the authors' model-based runs, and
        the model-based estimate bootstraps from the target critics (the paper's Table 9).
        """
        if self.policy.model_based is not None and self.model_based_target:
            mu, log_std, _ = self.policy.model_rollout_policy.get_action_dist_params(next_obs)
            distribution: PolicyDistribution = TANH_GAUSSIAN
            next_estimate = self.policy.value_estimate(next_obs, ent_coef, target=True)
        else:
            mu, log_std, distribution = self.policy.target_parameters(next_obs, ent_coef, self.beta, next_noise)
            next_estimate = self.policy.value_estimate(next_obs, ent_coef, target=True, critic_only=True)
        next_value = objective(next_estimate, mu, log_std, next_noise[-1], ent_coef, self.beta, distribution).value
        return next_value.reshape(-1, 1)

    def learn(
        self: SelfIterativeSAC,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "IterativeSAC",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfIterativeSAC:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
