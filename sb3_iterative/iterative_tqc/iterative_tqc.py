"""IterativeTQC: sb3-contrib's TQC with the iterative amortized actor (beyond the paper)."""

from typing import Any, ClassVar, TypeVar

import torch as th
from sb3_contrib import TQC
from sb3_contrib.common.utils import quantile_huber_loss
from sb3_contrib.tqc.policies import Critic as QuantileCritic
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule

from sb3_iterative.common.algorithm import IterativeAmortization
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.iterative_tqc.policies import CnnPolicy, IterativeTQCPolicy, MlpPolicy, MultiInputPolicy

SelfIterativeTQC = TypeVar("SelfIterativeTQC", bound="IterativeTQC")


class IterativeTQC(IterativeAmortization, TQC):  # type: ignore[misc]
    """
    Iterative amortized policy optimization (Marino et al., NeurIPS 2021) on top of Truncated
    Quantile Critics (Kuznetsov et al., ICML 2020), sb3-contrib's TQC.

    The actor optimizes λ = (µ, log σ) with K learned, gated updates driven by ∇_λ J, as in
    :class:`~sb3_iterative.IterativeSAC`; J's value comes from TQC's quantile critics. Pessimism is
    TQC's truncation throughout: the critics' target drops the ``top_quantiles_to_drop_per_net``
    largest quantiles of each critic, as TQC does, and Q̂_β inside J (the actor's objective and the
    target's next actions) is the mean of the pooled quantiles without the β largest of each critic,
    β = ``top_quantiles_to_drop_per_net`` by default. Acting drops none (``beta_collect=0``, TQC's actor
    objective). ``actor="direct"`` with ``beta=0`` is TQC itself.

    Every argument of :class:`sb3_contrib.TQC` is accepted and means the same, except ``use_sde``,
    which must stay False. The iterative options are policy keywords (``policy_kwargs=dict(n_iterations=5,
    n_action_samples=1, init_std=0.5, beta_collect=0, actor="iterative", n_quantiles=25, n_critics=2)``,
    see :class:`IterativeTQCPolicy`).

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
    :param n_steps: n-step returns for the critic target (as in TQC)
    :param ent_coef: Entropy coefficient α; 'auto' (or 'auto_0.1') learns it to hold the entropy at
        ``target_entropy``
    :param target_update_interval: update the target network every ``target_update_interval`` gradient steps
    :param target_entropy: target entropy when learning ``ent_coef``
    :param top_quantiles_to_drop_per_net: the largest quantiles of each critic dropped from the
        critics' target (TQC's d; an integer in [0, n_quantiles))
    :param use_sde: must be False: the iterative actor has no gSDE
    :param sde_sample_freq: unused (gSDE)
    :param use_sde_at_warmup: unused (gSDE)
    :param stats_window_size: Window size for the rollout logging
    :param tensorboard_log: the log location for tensorboard (if None, no logging)
    :param policy_kwargs: additional arguments to be passed to the policy on creation
    :param verbose: Verbosity level: 0 none, 1 info, 2 debug
    :param seed: Seed for the pseudo random generators
    :param device: Device (cpu, cuda, ...) on which the code should be run
    :param beta: β, the quantiles dropped per critic in J while training (the actor's objective and
        the target's next actions; an integer in [0, n_quantiles)); None: ``top_quantiles_to_drop_per_net``
    :param compile_training: compile each gradient step's updates (value estimator, critics, actor, α, distilled
        policy) with ``torch.compile``: True (its default mode) or a mode's name (``"reduce-overhead"`` for CUDA
        graphs, ``"max-autotune"``, ...); the same results as eager within float tolerance (the random draws
        are eager's); off by default (BENCHMARKS.md, "Compiled training", says what it costs and gives)
    :param _init_setup_model: Whether or not to build the network at the creation of the instance
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: IterativeTQCPolicy
    critic: QuantileCritic
    critic_target: QuantileCritic

    def __init__(
        self,
        policy: str | type[IterativeTQCPolicy],
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
        top_quantiles_to_drop_per_net: int = 2,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        beta: float | None = None,
        compile_training: bool | str = False,
        _init_setup_model: bool = True,
    ):
        beta = top_quantiles_to_drop_per_net if beta is None else beta
        self._set_iterative_options(beta, use_sde, use_sde_at_warmup, policy_kwargs, compile_training)
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
            top_quantiles_to_drop_per_net=top_quantiles_to_drop_per_net,
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

    def _check_pessimism(self) -> None:
        # TQC accepts any d; dropping every quantile would leave the target empty
        self.policy.pessimism.check("top_quantiles_to_drop_per_net", self.top_quantiles_to_drop_per_net)
        super()._check_pessimism()

    def _next_value(
        self, next_obs: PyTorchObs, next_actions: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor
    ) -> th.Tensor:
        """TQC's target atoms z − α log π(a'|s') [B, N · kept], z the target critics' pooled quantiles at a' without
        the ``top_quantiles_to_drop_per_net`` largest of each critic. With N action samples the atoms of every sample
        are pooled (N = 1: TQC's target exactly)."""
        next_estimate = self.policy.value_estimate(next_obs, ent_coef, target=True)
        assert isinstance(next_estimate, EnsembleQ)
        quantiles = next_estimate(next_actions)  # [N, B, n · M], member-major
        quantiles = self.policy.pessimism.truncate(quantiles, self.top_quantiles_to_drop_per_net)
        atoms = quantiles - ent_coef * next_log_prob.unsqueeze(-1)  # [N, B, kept]
        return atoms.transpose(0, 1).reshape(atoms.shape[1], -1)  # [B, N · kept]

    def _critic_regression(self, current: th.Tensor, target: th.Tensor) -> th.Tensor:
        """TQC's: the quantile Huber loss of every critic's quantiles [B, n, M] to the target atoms [B, N · kept]."""
        return quantile_huber_loss(current, target.unsqueeze(1), sum_over_quantiles=False)  # broadcast over the critics

    def learn(
        self: SelfIterativeTQC,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "IterativeTQC",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfIterativeTQC:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
