"""What several test modules share: small training settings, short environments, a logger that
remembers what it wrote, and reproducible observations."""

import gymnasium as gym
import numpy as np
from stable_baselines3.common.logger import KVWriter, Logger

from sb3_iterative import IterativeCrossQ, IterativeSAC, IterativeTQC

# Learning starts after 50 random steps, on batches of 32: a test trains in seconds
SMALL = dict(learning_starts=50, batch_size=32)

# The algorithms of the package, over which what they share is tested once (as sb3-contrib's ``MODEL_LIST``),
# each with small networks of its own shape: a run takes a second or two
POLICY_KWARGS = {
    IterativeSAC: dict(net_arch=[32, 32]),
    IterativeTQC: dict(net_arch=[32, 32], n_quantiles=5),
    IterativeCrossQ: dict(net_arch=dict(pi=[32, 32], qf=[64, 64])),
}
MODEL_LIST = list(POLICY_KWARGS)


def make_model(algorithm, env="Pendulum-v1", seed=0, device="cpu", **policy_kwargs):
    """``algorithm`` on ``env`` with :data:`SMALL` settings and its small networks, ``policy_kwargs`` added."""
    return algorithm(
        "MlpPolicy", env, **SMALL, seed=seed, device=device, policy_kwargs={**POLICY_KWARGS[algorithm], **policy_kwargs}
    )


def short_env(env_id: str = "Pendulum-v1", max_episode_steps: int = 50) -> gym.Env:
    """A real environment with short episodes."""
    return gym.make(env_id, max_episode_steps=max_episode_steps)


def short_pendulum(max_episode_steps: int = 50) -> gym.Env:
    return short_env("Pendulum-v1", max_episode_steps)


class KeyRecorder(KVWriter):
    """Remembers every key and value the logger writes."""

    def __init__(self):
        self.values: dict[str, list] = {}

    def write(self, key_values, key_excluded, step=0):
        for key, value in key_values.items():
            self.values.setdefault(key, []).append(value)


def recording_logger(model) -> KeyRecorder:
    """Make ``model`` log into a :class:`KeyRecorder` (only), and return it."""
    recorder = KeyRecorder()
    model.set_logger(Logger(folder=None, output_formats=[recorder]))
    return recorder


def next_value(model, next_obs, ent_coef, next_noise):
    """V(s') of the critics' target for ``next_obs``, as the algorithm's critic step computes it: a' from λ' by the
    policy's one route, then the algorithm's own next value."""
    next_actions, next_log_prob = model._next_sample(next_obs, ent_coef, next_noise)
    return model._next_value(next_obs, next_actions, next_log_prob, ent_coef)


def observations(model, n: int = 8, seed: int = 123) -> np.ndarray:
    """``n`` observations sampled from the model's observation space with a fixed seed."""
    model.observation_space.seed(seed)
    return np.stack([model.observation_space.sample() for _ in range(n)])
