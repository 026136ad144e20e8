"""On-policy states for the analyses: the observations the agent meets when it acts."""

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from sb3_iterative.common.options import check_count


def collect_states(
    model: Any,
    env: str | gym.Env | VecEnv,
    n: int = 100,
    deterministic: bool = False,
    seed: int | None = 0,
) -> np.ndarray | dict[str, np.ndarray]:
    """``n`` consecutive observations of ``model`` acting in ``env`` (episodes restart as they end).

    The observations are those the policy sees: pass the VecEnv the model was trained with (e.g. a
    ``VecNormalize``) if it transforms them. Stochastic actions (``deterministic=False``, how the
    agent collects its data) draw from torch's global generator.

    :param model: anything with SB3's ``predict`` (a model of the package or a stock agent, a :class:`ChangedObjective`)
    :param env: an environment id, an environment, or a VecEnv
    :param n: the number of states
    :param deterministic: act with the deterministic action rather than a sample
    :param seed: seed of the environment (None: leave it as it is)
    :return: the states [n, *observation shape] (a dict of such arrays for dict observations)
    """
    n = check_count("n", n)
    if not hasattr(model, "predict"):
        raise TypeError(f"model must have a predict method (an SB3 model or policy), got {type(model).__name__}")
    if isinstance(env, str):
        vec_env: VecEnv = make_vec_env(env, n_envs=1, seed=seed)
    elif isinstance(env, VecEnv):
        vec_env = env
        if seed is not None:
            vec_env.seed(seed)
    elif isinstance(env, gym.Env):
        vec_env = DummyVecEnv([lambda: env])
        if seed is not None:
            vec_env.seed(seed)
    else:
        raise TypeError(f"env must be an environment id, a gymnasium Env or a VecEnv, got {type(env).__name__}")

    states: list[Any] = []
    obs = vec_env.reset()
    while len(states) < n:
        states.extend(_unbatch(obs))
        actions, _ = model.predict(obs, deterministic=deterministic)
        obs, _, _, _ = vec_env.step(actions)
    states = states[:n]
    if isinstance(states[0], dict):
        return {key: np.stack([state[key] for state in states]) for key in states[0]}
    return np.stack(states)


def _unbatch(obs: Any) -> list[Any]:
    """A VecEnv's batch of observations as one observation per environment."""
    if isinstance(obs, dict):
        n_envs = len(next(iter(obs.values())))
        return [{key: value[i] for key, value in obs.items()} for i in range(n_envs)]
    return list(obs)
