"""A one-step continuous bandit whose best action depends on the state: a*(s) = 0.6·s."""

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ContextualBandit(gym.Env):
    """Observe s ~ U(−1, 1)^2, act a ∈ [−1, 1]^2, get r = −‖a − 0.6·s‖², episode over."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    @staticmethod
    def best_action(obs: np.ndarray) -> np.ndarray:
        return 0.6 * obs

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._obs = self.np_random.uniform(-1.0, 1.0, size=2).astype(np.float32)
        return self._obs, {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = -float(np.sum((action - self.best_action(self._obs)) ** 2))
        return self._obs, reward, True, False, {}
