"""IterativeCrossQ: sb3-contrib's CrossQ with the iterative amortized actor (beyond the paper)."""

from typing import Any, ClassVar, TypeVar

import torch as th
from sb3_contrib import CrossQ
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, ReplayBufferSamples, Schedule

from sb3_iterative.common.algorithm import IterativeAmortization
from sb3_iterative.common.options import check_count
from sb3_iterative.iterative_crossq.policies import IterativeCrossQPolicy, MlpPolicy
from sb3_iterative.objective import EnsembleValue, sampled_objective

SelfIterativeCrossQ = TypeVar("SelfIterativeCrossQ", bound="IterativeCrossQ")


class IterativeCrossQ(IterativeAmortization, CrossQ):  # type: ignore[misc]
    """
    Iterative amortized policy optimization (Marino et al., NeurIPS 2021) on top of CrossQ (Bhatt et al.,
    ICLR 2024), sb3-contrib's CrossQ: batch-renormalized critics, no target networks, a delayed actor.

    The actor optimizes λ = (µ, log σ) with K learned, gated updates driven by ∇_λ J, as in
    :class:`~sb3_iterative.IterativeSAC`, with Q̂_β = mean − β·std over CrossQ's critics. The critics'
    target comes, as in CrossQ, from one joint pass of the online critics over (s, a) and (s', a') with
    batch statistics: a' ~ π(·|s'; λ'), where λ' is what the policy does on s' (K iterations on J, the
    critics read with their running statistics), and the target is J's soft value at λ' from that pass,
    Q̂_β(s', a') − α log π(a'|s'). The actor and α train every ``policy_delay`` critic updates. With
    ``actor="direct"`` and ``beta=1`` (two critics: their min) it is CrossQ itself.

    Every argument of :class:`sb3_contrib.CrossQ` is accepted and means the same, except ``use_sde``,
    which must stay False. The iterative options are policy keywords (``policy_kwargs=dict(n_iterations=5,
    n_action_samples=1, init_std=0.5, beta_collect=1.0, actor="iterative")``, see :class:`IterativeCrossQPolicy`).

    :param policy: The policy model to use (MlpPolicy: CrossQ has no CnnPolicy nor MultiInputPolicy)
    :param env: The environment to learn from (if registered in Gym, can be str)
    :param learning_rate: learning rate for adam optimizer, for all networks; it can be a function
        of the current progress remaining (from 1 to 0)
    :param buffer_size: size of the replay buffer
    :param learning_starts: how many steps of the model to collect transitions for before learning starts
    :param batch_size: Minibatch size for each gradient update
    :param gamma: the discount factor
    :param train_freq: Update the model every ``train_freq`` steps, or a tuple like ``(5, "step")``
    :param gradient_steps: gradient steps after each rollout (-1: as many as environment steps)
    :param action_noise: the action noise type (None by default)
    :param replay_buffer_class: Replay buffer class to use
    :param replay_buffer_kwargs: Keyword arguments to pass to the replay buffer on creation
    :param optimize_memory_usage: Enable a memory efficient variant of the replay buffer
    :param n_steps: n-step returns for the critic target (as in CrossQ)
    :param ent_coef: Entropy coefficient α; 'auto' (or 'auto_0.1') learns it to hold the entropy at
        ``target_entropy``
    :param target_entropy: target entropy when learning ``ent_coef``
    :param policy_delay: the actor and α train every ``policy_delay`` critic updates (an integer >= 1)
    :param use_sde: must be False: the iterative actor has no gSDE
    :param sde_sample_freq: unused (gSDE)
    :param use_sde_at_warmup: unused (gSDE)
    :param stats_window_size: Window size for the rollout logging
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 none, 1 info, 2 debug
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run
    :param beta: β, the training pessimism of Q̂_β = mean − β·std (paper Eq. 13) in the critics' target
        and the actor's objective: 2.5 as IterativeSAC; β = 1 with two critics is CrossQ's min(Q1, Q2)
    :param compile_training: compile each gradient step's updates (value estimator, critics, actor, α, distilled
        policy) with ``torch.compile``: True (its default mode) or a mode's name (``"reduce-overhead"`` for CUDA
        graphs, ``"max-autotune"``, ...); the same results as eager within float tolerance (the random draws
        are eager's); off by default (BENCHMARKS.md, "Compiled training", says what it costs and gives)
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"MlpPolicy": MlpPolicy}
    policy: IterativeCrossQPolicy

    def __init__(
        self,
        policy: str | type[IterativeCrossQPolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_entropy: str | float = "auto",
        policy_delay: int = 3,
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
        compile_training: bool | str = False,
        _init_setup_model: bool = True,
    ):
        check_count("policy_delay", policy_delay)
        if isinstance(policy, str) and policy in ("CnnPolicy", "MultiInputPolicy"):
            raise ValueError(
                f"policy: IterativeCrossQ has MlpPolicy only, as sb3-contrib's CrossQ (no {policy}): its critics' "
                "joint pass and batch renormalization take flat vector observations"
            )
        self._set_iterative_options(beta, use_sde, use_sde_at_warmup, policy_kwargs, compile_training)
        super().__init__(
            policy,
            env,
            learning_rate=learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            ent_coef=ent_coef,
            target_entropy=target_entropy,
            policy_delay=policy_delay,
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

    def _trains_actor(self) -> bool:
        """CrossQ's delayed actor: every ``policy_delay``-th critic update."""
        return self._n_updates % self.policy_delay == 0

    def _draw_noise(self, batch_size: int, train_actor: bool) -> tuple[th.Tensor | None, th.Tensor]:
        # CrossQ's order of draws: the target's next actions, then (on a delayed step) the actor's
        next_noise = self.policy.sample_noise(batch_size)
        return (self.policy.sample_noise(batch_size) if train_actor else None), next_noise

    def _critic_values(
        self, replay_data: ReplayBufferSamples, next_actions: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor
    ) -> tuple[tuple[th.Tensor, ...], th.Tensor]:
        """CrossQ's: Q(s, a) and Q(s', a') from one pass of the critics with the batch statistics of both, and V(s')
        [B, 1] the soft value of those Q(s', a') (mean over the N samples of Q̂_β − α log π)."""
        obs, next_obs = replay_data.observations, replay_data.next_observations
        assert isinstance(obs, th.Tensor) and isinstance(next_obs, th.Tensor)  # MlpPolicy only
        n_samples, batch_size, action_dim = next_actions.shape
        all_obs = th.cat([obs, next_obs.repeat(n_samples, *([1] * (next_obs.dim() - 1)))], dim=0)
        all_actions = th.cat([replay_data.actions, next_actions.reshape(n_samples * batch_size, action_dim)], dim=0)
        with self.policy.critic_joint_pass():
            all_q_values = th.cat(self.critic(all_obs, all_actions), dim=1)  # [(1 + N)·B, n_critics]
        current_q_values, next_q_values = th.split(all_q_values, [batch_size, n_samples * batch_size], dim=0)
        with th.no_grad():
            joint_pass = EnsembleValue(lambda _: next_q_values.reshape(n_samples, batch_size, -1), self.policy.pessimism)
            next_value = sampled_objective(joint_pass, next_actions, next_log_prob, ent_coef, self.beta).value
        return tuple(current_q_values.T[..., None]), next_value.reshape(-1, 1)  # [B, 1] per critic

    def _actor_step(self, *args: Any, **kwargs: Any) -> None:
        with self.policy.critics_as_j():  # the actor's own pass and the distilled policy's train on batch statistics
            super()._actor_step(*args, **kwargs)

    def _target_step(self, gradient_step: int) -> None:
        """CrossQ has no target networks."""

    def learn(
        self: SelfIterativeCrossQ,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "IterativeCrossQ",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfIterativeCrossQ:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
