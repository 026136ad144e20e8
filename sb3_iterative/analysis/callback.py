"""An SB3 callback that logs the amortization gap and the per-step improvement while training (Fig. 6, 4b).

Every ``eval_freq`` environment steps it takes the most recent ``n_states`` observations of the
replay buffer (the states the current policy has been visiting, read in place: no sampling, so
the buffer's random state and the training run are unchanged), and records

- ``analysis/amortization_gap``: the mean gap (:func:`amortization_gap`, Adam on λ),
- ``analysis/objective_improvement``: the mean J(λ_K) − J(λ_0) (:func:`improvement_per_iteration`),
  for an iterative optimizer,

then dumps the logger at the current step, as SB3's ``EvalCallback`` does, so that TensorBoard (or
any of the logger's outputs) gets them. Both use private random generators: torch's global one,
which the training draws from, does not move.
"""

from typing import Any

import numpy as np
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from sb3_iterative.analysis.agent import Model, as_agent
from sb3_iterative.analysis.amortization_gap import amortization_gap
from sb3_iterative.analysis.improvement import improvement_per_iteration
from sb3_iterative.analysis.models import TRAINED_MODELS
from sb3_iterative.common.options import check_count


class AnalysisCallback(BaseCallback):
    """Log the amortization gap and the per-step improvement of J every ``eval_freq`` steps.

    :param eval_freq: environment steps between two analyses (counted over all environments)
    :param n_states: the most recent observations of the replay buffer to analyse
    :param gap_steps: Adam's steps on λ behind the gap (100 in the paper)
    :param seed: seed of the analyses' samples (the same at every analysis, so the curves compare
        policies, not samples)
    :param verbose: 1 to print the values as they are logged
    """

    def __init__(self, eval_freq: int = 10_000, n_states: int = 100, gap_steps: int = 100, seed: int = 0, verbose: int = 0):
        super().__init__(verbose)
        self.eval_freq = check_count("eval_freq", eval_freq)
        self.n_states = check_count("n_states", n_states)
        self.gap_steps = check_count("gap_steps", gap_steps)
        self.seed = seed
        self._last_analysis = 0

    @property
    def analysed(self) -> Model:
        """The model being trained, as the analyses take it (a model of the package or a stock agent)."""
        model = self.model
        assert isinstance(model, TRAINED_MODELS), "as_agent() checks it at the start of learn()"
        return model

    def _init_callback(self) -> None:
        as_agent(self.analysed)  # an unsupported model fails at the start of learn(), not after eval_freq steps

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_analysis < self.eval_freq:
            return True
        states = self.recent_states()
        if states is None:
            return True
        self._last_analysis = self.num_timesteps
        gap = amortization_gap(self.analysed, states, n_steps=self.gap_steps, seed=self.seed)
        self.logger.record("analysis/amortization_gap", float(gap.gap.mean()))
        agent = as_agent(self.analysed)
        if agent.reads_objective:
            curve = improvement_per_iteration(self.analysed, states, n_iterations=agent.n_iterations, seed=self.seed)
            self.logger.record("analysis/objective_improvement", float(curve.improvement.mean()))
        if self.verbose >= 1:
            print(f"step {self.num_timesteps}: amortization gap {gap.gap.mean():.4g}")
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)
        return True

    def recent_states(self) -> Any:
        """The last ``n_states`` observations stored in the replay buffer, as the policy sees them
        (normalized by a ``VecNormalize`` if the model has one); None while the buffer is empty."""
        buffer = getattr(self.model, "replay_buffer", None)
        if not isinstance(buffer, ReplayBuffer | DictReplayBuffer):
            raise TypeError(f"AnalysisCallback reads a ReplayBuffer or DictReplayBuffer, got {type(buffer).__name__}")
        stored = buffer.buffer_size if buffer.full else buffer.pos
        if stored == 0:
            return None
        positions = (buffer.pos - 1 - np.arange(min(stored, self.n_states))) % buffer.buffer_size
        vec_normalize = self.model.get_vec_normalize_env()

        def recent(array: np.ndarray) -> np.ndarray:
            # [buffer size, n_envs, *shape] -> [positions · n_envs, *shape], most recent first
            return array[positions].reshape(-1, *array.shape[2:])[: self.n_states]

        states: np.ndarray | dict[str, np.ndarray]
        if isinstance(buffer.observations, dict):
            states = {key: recent(value) for key, value in buffer.observations.items()}
        else:
            states = recent(buffer.observations)
        return vec_normalize.normalize_obs(states) if vec_normalize is not None else states
