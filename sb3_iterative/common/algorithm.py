"""The iterative amortized actor's training (:class:`IterativeAmortization`), placed before a soft
actor-critic of the SB3 family (SB3's SAC, sb3-contrib's TQC and CrossQ) in the bases."""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.save_util import recursive_getattr
from stable_baselines3.common.type_aliases import GymEnv, PyTorchObs, ReplayBufferSamples
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from sb3_iterative.common.amortizers import DirectActor
from sb3_iterative.common.compilation import check_compile_training, compile_update, set_learning_rate
from sb3_iterative.common.iterative_actor import IterativeActor, actor_loss
from sb3_iterative.common.options import IterativeOptions
from sb3_iterative.common.policies import IterativePolicy
from sb3_iterative.critics import CriticEnsemble
from sb3_iterative.distributions import TANH_GAUSSIAN
from sb3_iterative.model_based import distillation_kl
from sb3_iterative.objective import QuadraticPull, ValueEstimate
from sb3_iterative.value_estimators import check_training_options_kind

# What train() logs (the means over its gradient steps, under train/)
TRAINING_LOGS = (
    "ent_coef",
    "ent_coef_loss",
    "actor_loss",
    "critic_loss",
    "objective_improvement",
    "gate_mean",
    "model_state_loss",
    "model_reward_loss",
    "distillation_kl",
)


class StepLogs:
    """What one gradient step logs and checks, as tensors (a new one per step: a compiled step sees the same
    empty object every time)."""

    def __init__(self) -> None:
        self.values: dict[str, th.Tensor] = {}

    def add(self, key: str, value: th.Tensor) -> None:
        """The step's value of ``key`` (a 0-d tensor, detached here)."""
        self.values[key] = value.detach()

    def check_finite(self, value: th.Tensor, check: str = "objective_finite") -> None:
        """Values the step computed (``check``: J's, ``"objective_finite"``, or the critics' loss, ``"critic_finite"``)
        that :meth:`TrainingLogs.read` checks are finite."""
        self.values[check] = th.isfinite(value).all()


# What TrainingLogs.read says when a check fails, J's first: the critics train on steps where the actor does not
DIVERGENCE = {
    "objective_finite": "The value estimate returned non-finite values while the actor optimized J",
    "critic_finite": "The critics' loss became non-finite",
}


class TrainingLogs:
    """What ``train()`` logs and checks, kept as tensors on the device through its gradient steps and read once at
    its end: no host synchronization inside a gradient step (a GPU runs the steps ahead of Python)."""

    def __init__(self) -> None:
        self.values: dict[str, list[th.Tensor]] = {key: [] for key in (*TRAINING_LOGS, *DIVERGENCE)}

    def record(self, step: StepLogs, copy: bool = False) -> None:
        """One gradient step's logs and checks; ``copy``: kept as copies (a compiled step's outputs may live in a CUDA
        graph's memory, which its next replay overwrites)."""
        for key, value in step.values.items():
            self.values[key].append(value.clone() if copy else value)

    def read(self, divergence_hint: str = "") -> dict[str, float]:
        """The mean of each logged value over the gradient steps, and the checks, in one host read; a RuntimeError if
        J or the critics' loss was non-finite in any step, which ends with ``divergence_hint`` (the value
        estimator's)."""
        checks = [key for key in DIVERGENCE if self.values[key]]
        keys = [key for key in TRAINING_LOGS if self.values[key]]
        if not checks and not keys:
            return {}
        summaries = [th.stack(self.values[key]).all().float() for key in checks]
        summaries += [th.stack(self.values[key]).float().mean() for key in keys]
        read = th.stack(summaries).tolist()
        for check, finite in zip(checks, read, strict=False):
            if not finite:
                raise RuntimeError(
                    f"{DIVERGENCE[check]}: training diverged (check the rewards and the learning rate){divergence_hint}"
                )
        return dict(zip(keys, read[len(checks) :], strict=True))


class IterativeAmortization(OffPolicyAlgorithm):
    """The iterative amortized actor's training, placed before a soft actor-critic of the SB3 family in the
    bases (``class IterativeSAC(IterativeAmortization, SAC)``, ``IterativeTQC(IterativeAmortization, TQC)``,
    ``IterativeCrossQ(IterativeAmortization, CrossQ)``).

    It replaces the base's ``train()`` with one loop of named steps (:meth:`_gradient_step`): the value
    estimator's own step (a model's), the critics' step on their target (:meth:`_critic_loss`: y = r + γ (1 − done)
    ·V(s'), with V(s') the one part each algorithm writes, :meth:`_next_value`), the actor's step, K iterations on J
    and the optimizer's loss (Algorithm 2), with α's step and the distilled policy's, and the target networks'
    update. An algorithm overrides a step, not the loop: TQC its critics' regression, CrossQ its joint pass of the
    critics (:meth:`_critic_values`), its delayed actor (:meth:`_trains_actor`), its order of draws
    (:meth:`_draw_noise`) and its absent targets (:meth:`_target_step`). The policy is an
    :class:`~sb3_iterative.common.policies.IterativePolicy`.
    """

    policy: IterativePolicy  # type: ignore[assignment]
    actor: IterativeActor | DirectActor  # type: ignore[assignment]  # SB3 declares a Module
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
        compile_training: bool | str = False,
        model_pretrain_steps: int | None = None,
        model_based_target: bool | None = None,
    ) -> None:
        """Check and keep the iterative options, before the base algorithm's ``__init__``."""
        check_compile_training(compile_training)
        self.compile_training = compile_training
        self._compiled_update: Any = None
        if use_sde or use_sde_at_warmup:
            raise ValueError(
                f"{type(self).__name__} does not support gSDE (use_sde=True): the iterative actor has no state-dependent noise"
            )
        estimator_options = dict(model_pretrain_steps=model_pretrain_steps, model_based_target=model_based_target)
        check_training_options_kind(policy_kwargs, **estimator_options)
        self.model_pretrain_steps, self.model_based_target = model_pretrain_steps, model_based_target
        self.beta = beta
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
        self._check_estimator_options()
        self._sync_gamma()
        self._sync_ent_coef(self._current_ent_coef())
        self._compile_update()

    def _compile_update(self) -> None:
        """:meth:`_update` through ``torch.compile`` with ``compile_training``
        (:func:`~sb3_iterative.common.compilation.compile_update`; None without)."""
        self._compiled_update = compile_update(self._update, self.compile_training) if self.compile_training else None

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_compiled_update"]  # rebuilt on load

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        """The schedule's rate into every optimizer, as SB3 sets it; with ``compile_training`` as tensors
        (:func:`~sb3_iterative.common.compilation.set_learning_rate`)."""
        if not self.compile_training:
            return super()._update_learning_rate(optimizers)
        rate = self.lr_schedule(self._current_progress_remaining)
        self.logger.record("train/learning_rate", rate)
        set_learning_rate(optimizers if isinstance(optimizers, list) else [optimizers], rate)

    def _check_pessimism(self) -> None:
        """The algorithm's pessimism arguments, against the policy's pessimism (its critics)."""
        self.policy.pessimism.check("beta", self.beta)

    def _check_estimator_options(self) -> None:
        """The value estimator's training options, with their defaults (another kind's are refused in __init__)."""
        checked = type(self.policy.estimator).check_training_options(self._estimator_training_options())
        for name, value in checked.items():
            setattr(self, name, value)

    def _estimator_training_options(self) -> dict[str, Any]:
        """The algorithm's options that the policy's value estimator reads, by name."""
        return {name: getattr(self, name, None) for name in type(self.policy.estimator).training_options}

    def _sync_gamma(self) -> None:
        """A value estimator that discounts (the model's) discounts with the algorithm's γ (kept in the policy for
        acting alone)."""
        self.policy.estimator.set_gamma(self.gamma)

    def set_parameters(
        self,
        load_path_or_dict: str | dict[str, th.Tensor],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        super().set_parameters(load_path_or_dict, exact_match=exact_match, device=device)
        self._sync_gamma()  # loading restores the saved γ; the algorithm's (e.g. load(..., gamma=...)) wins

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        return state_dicts + self._component_optimizer_names(), variables

    def _component_optimizer_names(self) -> list[str]:
        """The optimizers of the value estimator and the distilled direct policy, as save/load names them."""
        names = [f"policy.estimator.{name}" for name in self.policy.estimator.optimizer_names]
        if self.policy.distilled_policy is not None:
            names.append("policy.distilled_policy.optimizer")
        return names

    def _current_ent_coef(self) -> th.Tensor:
        """α, detached from its optimizer's graph."""
        if self.log_ent_coef is not None:
            return th.exp(self.log_ent_coef.detach())
        return self.ent_coef_tensor

    def _sync_ent_coef(self, ent_coef: th.Tensor) -> None:
        """The iterative actor optimizes J with α while acting: keep its copy current."""
        self.policy.amortizer.set_ent_coef(ent_coef)

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        # The whole of the base's train() is replaced: its actor step, its critic target and its
        # entropy step all read the actor through SB3's one-pass Actor API. The loop is the same for
        # every base; each gradient step is the named steps of :meth:`_gradient_step`, and an
        # algorithm overrides a step (CrossQ: the critic's joint pass, the delayed actor, no targets).
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers += [self.ent_coef_optimizer]
        optimizers += [recursive_getattr(self, name) for name in self._component_optimizer_names()]
        self._update_learning_rate(optimizers)

        logs = TrainingLogs()
        self._sync_gamma()
        if not self._model_pretrained:  # the value estimator's own steps before the rest's first (the model's)
            for _ in range(self.policy.estimator.pretraining_steps(self._estimator_training_options())):
                self.policy.estimator.fit(self._sample(batch_size))
            self._model_pretrained = True

        self.policy.amortizer.check_trainable()
        for gradient_step in range(gradient_steps):
            self._n_updates += 1
            replay_data = self._sample(batch_size)
            self._gradient_step(replay_data, gradient_step, logs)

        means = logs.read(self.policy.estimator.divergence_hint)  # the gradient steps' one host synchronization
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/beta", self.beta)
        for key, value in means.items():
            self.logger.record(f"train/{key}", value)

    def _sample(self, batch_size: int) -> ReplayBufferSamples:
        assert self.replay_buffer is not None, "the replay buffer is made by _setup_model"
        return self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)

    def _gradient_step(self, replay_data: ReplayBufferSamples, gradient_step: int, logs: TrainingLogs) -> None:
        """One gradient step, as named steps: the updates (:meth:`_update`: the value estimator's own, the critics,
        the actor with α and the distilled policy where :meth:`_trains_actor`), compiled with ``compile_training``,
        then the target networks."""
        step_logs = StepLogs()
        (self._compiled_update or self._update)(replay_data, self._trains_actor(), step_logs)
        logs.record(step_logs, copy=self._compiled_update is not None)
        self._target_step(gradient_step)

    def _update(self, replay_data: ReplayBufferSamples, train_actor: bool, logs: StepLogs) -> None:
        """A gradient step's updates, as named steps: the value estimator's own (a model), the critics, the actor
        with α and the distilled policy (with ``train_actor``). Tensors in, parameters and ``logs`` changed: what
        ``compile_training`` compiles."""
        # For n-step replay, the discount is gamma**n_steps (when no early termination)
        discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
        ent_coef = self._current_ent_coef()
        logs.add("ent_coef", ent_coef)
        noise, next_noise = self._draw_noise(replay_data.rewards.shape[0], train_actor)
        self._value_estimator_step(replay_data, logs)
        self._critic_step(replay_data, discounts, ent_coef, next_noise, logs)
        if train_actor:
            assert noise is not None
            self._actor_step(replay_data, ent_coef, noise, logs)

    def _trains_actor(self) -> bool:
        """Whether this gradient step trains the actor (and α): every step, as SAC and TQC."""
        return True

    def _draw_noise(self, batch_size: int, train_actor: bool) -> tuple[th.Tensor | None, th.Tensor]:
        """ε of the actor's step and of the critic's target, each [K + 1, N, B, A]
        (:meth:`.IterativePolicy.sample_noise`), in the base's order of draws: SAC's actor samples its
        actions before the target's next actions."""
        noise = self.policy.sample_noise(batch_size) if train_actor else None
        return noise, self.policy.sample_noise(batch_size)

    def _value_estimator_step(self, replay_data: ReplayBufferSamples, logs: StepLogs) -> None:
        """The value estimator's own training on the batch (the model's maximum-likelihood step)."""
        for key, value in self.policy.estimator.fit(replay_data).items():
            logs.add(key, value)

    def _critic_step(
        self,
        replay_data: ReplayBufferSamples,
        discounts: th.Tensor | float,
        ent_coef: th.Tensor,
        next_noise: th.Tensor,
        logs: StepLogs,
    ) -> None:
        """One step of the critics on their loss (:meth:`_critic_loss`)."""
        critic_loss = self._critic_loss(replay_data, discounts, ent_coef, next_noise)
        logs.add("critic_loss", critic_loss)
        logs.check_finite(critic_loss, "critic_finite")
        self.critic.optimizer.zero_grad()
        critic_loss.backward()
        self.critic.optimizer.step()

    def _actor_step(self, replay_data: ReplayBufferSamples, ent_coef: th.Tensor, noise: th.Tensor, logs: StepLogs) -> None:
        """The actor optimizes J on the updated critics (Algorithm 2), then α, then the distilled policy."""
        # every estimate of ∇_λ J is both the next update's input and a term of the loss
        obs = replay_data.observations
        value_estimate: ValueEstimate = self.policy.value_estimate(obs, ent_coef)
        max_pull = self.policy.options.objective_perturbation
        if max_pull > 0:  # J perturbed per state, seen by f_φ only through ∇_λ J (the critic and α keep J)
            value_estimate = QuadraticPull.random(
                value_estimate, replay_data.actions.shape[0], replay_data.actions.shape[1], max_pull, self.device
            )
        with self.policy.actor_forward():
            trace = self.policy.optimize(obs, value_estimate, ent_coef, self.beta, noise)
        loss, final = actor_loss(trace, value_estimate, noise[-1], ent_coef, self.beta)
        logs.check_finite(final.value)  # read at the end of train(), not here: no host synchronization
        trained_values = [estimate.value for estimate in [*trace.estimates, final][trace.first_trained :]]
        logs.add("actor_loss", -th.stack(trained_values).mean())  # −mean_k J(λ_k)
        if trace.estimates:  # the iterative actor: J(λ_K) − J(λ_0), the paper's per-step improvement
            logs.add("objective_improvement", (final.value - trace.estimates[0].value).mean())
            logs.add("gate_mean", th.stack(trace.gates).mean())

        self._temperature_step(final.log_prob, logs)

        self.actor.optimizer.zero_grad()
        loss.backward()
        self.actor.optimizer.step()

        if self.policy.distilled_policy is not None:
            logs.add("distillation_kl", self._distill(obs, trace.mu, trace.log_std))

    def _temperature_step(self, log_prob: th.Tensor, logs: StepLogs) -> None:
        """One step of log α towards the target entropy, from log π of the actor's samples [N, B]."""
        if self.ent_coef_optimizer is None or self.log_ent_coef is None:
            return
        mean_log_prob = log_prob.mean(dim=0)
        ent_coef_loss = -(self.log_ent_coef * (mean_log_prob + float(self.target_entropy)).detach()).mean()
        logs.add("ent_coef_loss", ent_coef_loss)
        self.ent_coef_optimizer.zero_grad()
        ent_coef_loss.backward()
        self.ent_coef_optimizer.step()
        self._sync_ent_coef(self._current_ent_coef())

    def _target_step(self, gradient_step: int) -> None:
        """The target networks' Polyak update, every ``target_update_interval`` gradient steps."""
        if gradient_step % self.target_update_interval == 0:
            polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
            # Copy running stats, see SB3 GH issue #996
            polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)

    def _critic_loss(
        self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: th.Tensor, next_noise: th.Tensor
    ) -> th.Tensor:
        """The critics' loss on a replay batch against their target y = r + γ (1 − done)·V(s'), with
        V(s') the soft value of a' ~ π(·|s'; λ') (TQC: its atoms).

        :param discounts: γ, or γ^n of n-step replay
        :param next_noise: ε for the next observations' K iterations and a' [K + 1, N, B, A]
        """
        with th.no_grad(), self.policy.target_modes():
            next_actions, next_log_prob = self._next_sample(replay_data.next_observations, ent_coef, next_noise)
        current, next_value = self._critic_values(replay_data, next_actions, next_log_prob, ent_coef)
        with th.no_grad():
            target = replay_data.rewards + (1 - replay_data.dones) * discounts * next_value
        return self._critic_regression(current, target)

    def _next_sample(self, next_obs: PyTorchObs, ent_coef: th.Tensor, next_noise: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The critic target's next actions a' ~ π(·|s'; λ') [N, B, A] and their log π [N, B], ε the noise plan's last
        slice. λ' by one route, for every base: the value estimator's own where it has its say (the model-based
        estimate's direct policy, with ``model_based_target``); else the distilled policy's (``distilled_target``);
        else what the policy does there (K iterations on the online critics' J, or the direct actor)."""
        policy = self.policy
        if policy.estimator.values_target(self._estimator_training_options()):
            mu, log_std = policy.estimator.target_parameters(next_obs, policy.direct_policy)
            return TANH_GAUSSIAN.sample(mu, log_std, next_noise[-1])
        if policy.distilled_target:
            return TANH_GAUSSIAN.sample(*policy.distilled_parameters(next_obs), next_noise[-1])
        # the critics' J, built only for an actor that reads it (a direct actor's target needs no features of s')
        reads_objective = policy.amortizer.reads_objective
        value_estimate = policy.value_estimate(next_obs, ent_coef, critic_only=True) if reads_objective else None
        trace = policy.optimize(next_obs, value_estimate, ent_coef, self.beta, next_noise, with_values=False)
        return trace.distribution.sample(trace.mu, trace.log_std, next_noise[-1])

    def _critic_values(
        self, replay_data: ReplayBufferSamples, next_actions: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor
    ) -> tuple[Any, th.Tensor]:
        """The critics' outputs at the batch's (s, a), and V(s') of the next actions (without a graph): two passes,
        the online critics' and :meth:`_next_value` (CrossQ makes them one)."""
        with th.no_grad():
            next_value = self._next_value(replay_data.next_observations, next_actions, next_log_prob, ent_coef)
        return self.critic(replay_data.observations, replay_data.actions), next_value

    def _next_value(
        self, next_obs: PyTorchObs, next_actions: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor
    ) -> th.Tensor:
        """V(s') in the critics' target from the next actions a' [N, B, A] and their log π [N, B]: the part of the
        target each algorithm writes (SAC's soft value [B, 1], TQC's atoms [B, N · kept])."""
        raise NotImplementedError

    def _critic_regression(self, current: Any, target: th.Tensor) -> th.Tensor:
        """The critics' loss of their outputs at (s, a) to the target y: SAC's (and CrossQ's), half the sum over the
        critics of each one's mean squared error, for outputs [B, 1] per critic (TQC: its quantile Huber loss)."""
        loss = 0.5 * sum(F.mse_loss(current_q, target) for current_q in current)
        assert isinstance(loss, th.Tensor)
        return loss

    def _distill(self, obs: PyTorchObs, mu: th.Tensor, log_std: th.Tensor) -> th.Tensor:
        """One step of the distilled direct policy towards the iterative optimizer's λ_K: KL(π_iter ‖ π_direct)."""
        distilled_policy = self.policy.distilled_policy
        assert distilled_policy is not None
        mu_direct, log_std_direct, _ = distilled_policy.get_action_dist_params(obs)
        kl = distillation_kl(mu.detach(), log_std.detach(), mu_direct, log_std_direct).mean()
        distilled_policy.optimizer.zero_grad()
        kl.backward()
        distilled_policy.optimizer.step()
        return kl.detach()

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The model is rebuilt from policy_kwargs on load: the options changed on the policy since (test-time
        # iterations, random starts: policy.set_options) are written into them, and those alone
        given, _ = IterativeOptions.split(self.policy_kwargs)
        changed = {name: value for name, value in self.policy.options.as_dict().items() if getattr(given, name) != value}
        self.policy_kwargs = {**self.policy_kwargs, **changed}
        super().save(*args, **kwargs)
