"""Test beds for the paper's claims about the optimizer itself (Sec. 3.2, Fig. 2, 7): one-step tasks
whose optimal actions form several separated, equally good modes.

:class:`MultiModalBandit` is a one-step episode from one fixed observation: the reward of an action a in
[−1, 1]^|A| is the highest of equal Gaussian bumps, r(a) = max_m exp(−‖a − c_m‖² / (2 w²)), centred on
the modes c_m. Q(s, a) = r(a), so J(s, λ) has one local optimum per mode, all equally good, and a
policy's mass near each mode (:func:`sb3_iterative.analysis.mode_mass`) says which modes it reaches.
"""

import itertools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Modes at ±MODE_OFFSET in every action dimension (corners of a cube inside [−1, 1]^|A|)
MODE_OFFSET = 0.5
DEFAULT_WIDTH = 0.2


def mode_centers(action_dim: int, n_modes: int = 2, offset: float = MODE_OFFSET) -> np.ndarray:
    """``n_modes`` corners of the cube [−offset, offset]^|A| [n_modes, A]: two modes are opposite corners
    (±offset·1, distance 2·offset·√|A|); 2^|A| modes are every corner; between the two, the first corners in
    binary order after the opposite pair."""
    if isinstance(action_dim, bool) or not isinstance(action_dim, int) or action_dim < 1:
        raise ValueError(f"action_dim must be an integer >= 1, got {action_dim!r}")
    corners = 2**action_dim
    if isinstance(n_modes, bool) or not isinstance(n_modes, int) or not 2 <= n_modes <= corners:
        raise ValueError(f"n_modes must be an integer in [2, 2^action_dim = {corners}], got {n_modes!r}")
    opposite = [np.full(action_dim, -offset), np.full(action_dim, offset)]
    others = (np.array(signs) * offset for signs in itertools.product((-1.0, 1.0), repeat=action_dim))
    rest = [corner for corner in others if not any(np.array_equal(corner, o) for o in opposite)]
    return np.stack([*opposite, *rest][:n_modes]).astype(np.float32)


class MultiModalBandit(gym.Env):
    """A one-step task with several equally good optimal actions: r(a) = max_m exp(−‖a − c_m‖² / (2 w²)).

    Every episode is one step from the same observation (a vector of ones), then ends (terminated).

    :param action_dim: |A|
    :param n_modes: the number of modes, corners of a cube (:func:`mode_centers`); ignored with ``modes``
    :param modes: the modes' centres [M, A] in [−1, 1]^|A| (None: :func:`mode_centers`)
    :param width: w, the width of each mode's bump
    :param obs_dim: the size of the (constant) observation
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012  (gymnasium declares it an instance variable)

    def __init__(
        self,
        action_dim: int = 2,
        n_modes: int = 2,
        modes: np.ndarray | None = None,
        width: float = DEFAULT_WIDTH,
        obs_dim: int = 1,
    ):
        super().__init__()
        self.modes = mode_centers(action_dim, n_modes) if modes is None else np.asarray(modes, dtype=np.float32)
        if self.modes.ndim != 2 or self.modes.shape[1] != action_dim or np.abs(self.modes).max() > 1:
            raise ValueError(f"modes must be an array [M, action_dim={action_dim}] in [-1, 1], got {self.modes!r}")
        if not (isinstance(width, (int, float)) and np.isfinite(width) and width > 0):
            raise ValueError(f"width must be a finite number > 0, got {width!r}")
        self.width = float(width)
        self.obs_dim = obs_dim
        self.action_space = spaces.Box(-1.0, 1.0, (action_dim,), dtype=np.float32)
        self.observation_space = spaces.Box(0.0, 1.0, (obs_dim,), dtype=np.float32)

    def reward(self, action: np.ndarray) -> np.ndarray:
        """r(a) for actions [..., A]: the highest of the modes' bumps."""
        squared = ((np.asarray(action)[..., None, :] - self.modes) ** 2).sum(axis=-1)
        return np.exp(-squared / (2 * self.width**2)).max(axis=-1)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.ones(self.obs_dim, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = float(self.reward(np.clip(action, -1.0, 1.0)))
        return np.ones(self.obs_dim, dtype=np.float32), reward, True, False, {}
