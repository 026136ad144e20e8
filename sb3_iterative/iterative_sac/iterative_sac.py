"""IterativeSAC: SAC with an iterative amortized actor and a pessimistic critic target."""

from typing import Any, ClassVar, TypeVar

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, PyTorchObs, Schedule

from sb3_iterative.common.algorithm import IterativeAmortization
from sb3_iterative.iterative_sac.policies import CnnPolicy, IterativeSACPolicy, MlpPolicy, MultiInputPolicy
from sb3_iterative.objective import sampled_objective

SelfIterativeSAC = TypeVar("SelfIterativeSAC", bound="IterativeSAC")


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
        compile_training: bool | str = False,
        _init_setup_model: bool = True,
    ):
        self._set_iterative_options(
            beta, use_sde, use_sde_at_warmup, policy_kwargs, compile_training, model_pretrain_steps, model_based_target
        )
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

    def _next_value(
        self, next_obs: PyTorchObs, next_actions: th.Tensor, next_log_prob: th.Tensor, ent_coef: th.Tensor
    ) -> th.Tensor:
        """SAC's: J_target(s', λ') [B, 1], the soft value of the next actions on the target critics (mean over the N
        samples of Q̂_β − α log π). Model-based (``model_based_target``): the model-based estimate, which bootstraps
        from the target critics (the paper's Table 9), values λ' of the distilled direct policy."""
        own = self.policy.estimator.values_target(self._estimator_training_options())  # else the target critics' Q̂_β
        next_estimate = self.policy.value_estimate(next_obs, ent_coef, target=True, critic_only=not own)
        next_value = sampled_objective(next_estimate, next_actions, next_log_prob, ent_coef, self.beta).value
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
