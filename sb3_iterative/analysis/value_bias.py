"""Value bias (paper Fig. 3, Appendix A.2): the critic's estimate Q̂_β(s, a) against a Monte Carlo return.

State-action pairs come from a uniform random policy: each of ``n_pairs`` episodes takes a random
number of uniform random actions (0..``max_prefix``), then one more, a, at the state s of the pair.
From there the agent acts as the critic assumes: it samples from π(·|s; λ_K) (λ from its optimizer,
at the training β) and the soft return of the rollout is

    G = r_0 + Σ_{t≥1} γ^t (r_t − α log π(a_t|s_t)),

the quantity the critic's target y = r + γ (Q̂(s′, a′) − α log π(a′|s′)) estimates, with the
model's γ and α. Rollouts run ``horizon`` steps after the pair, long enough that γ^horizon is below
1e−3, or until the episode terminates; with an environment id the time limit is moved past that
horizon, since SB3's critics bootstrap through time limits. The bias is Q̂_β(s, a) − G per pair.
All episodes step together, one batch through the policy per step.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import Model, as_agent, check_beta, keeps_training_mode
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.options import check_count

# The default horizon makes γ^horizon smaller than this
HORIZON_TOLERANCE = 1e-3


@dataclass
class ValueBias:
    """Per state-action pair [P]: the critic's Q̂_β, the soft Monte Carlo return G, and whether the
    environment's time limit cut the rollout before its horizon."""

    estimates: np.ndarray
    returns: np.ndarray
    truncated: np.ndarray
    beta: float

    @property
    def bias(self) -> np.ndarray:
        """Q̂_β(s, a) − G per pair [P]."""
        return self.estimates - self.returns

    def summary(self) -> dict[str, Any]:
        return dict(
            mean=float(self.bias.mean()),
            std=float(self.bias.std()),
            median=float(np.median(self.bias)),
            mean_estimate=float(self.estimates.mean()),
            mean_return=float(self.returns.mean()),
            n_pairs=len(self.bias),
            n_truncated=int(self.truncated.sum()),
            beta=self.beta,
            per_pair=self.bias.tolist(),
        )

    def plot(self, ax: Axes | None = None, label: str | None = None) -> Figure:
        """Histogram of Q̂_β − G over the pairs."""
        figure, ax = axes(ax)
        ax.hist(self.bias, bins=30, alpha=0.7, label=label or f"mean {self.bias.mean():.3g}")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("value bias  Q̂(s, a) − Monte Carlo return")
        ax.set_ylabel("state-action pairs")
        ax.legend()
        return figure


@keeps_training_mode
def value_bias(
    model: Model,
    env: str | Callable[[], gym.Env],
    n_pairs: int = 100,
    max_prefix: int = 100,
    horizon: int | None = None,
    beta: float | None = None,
    seed: int = 0,
) -> ValueBias:
    """Q̂_β(s, a) − soft Monte Carlo return on ``n_pairs`` random state-action pairs (Fig. 3, A.2).

    :param model: a model of the package or a stock agent (not a :class:`ChangedObjective`: the environment's
        rewards do not include a test-time term)
    :param env: an environment id (its time limit is moved past the horizon), or a function making
        the environment as the model sees it (its time limit may cut rollouts: see ``truncated``)
    :param n_pairs: state-action pairs, one rollout each
    :param max_prefix: the most uniform random steps before the pair's state
    :param horizon: steps of each rollout after the pair (None: the first with γ^horizon < 1e−3)
    :param beta: β of Q̂ and of the policy's J in the rollouts (None: the training β, ``model.beta``,
        the one of the critic's target; 1 for SAC)
    :param seed: seed of the environments, the random actions and the policy's samples
    """
    agent = as_agent(model)
    if agent.changed:
        raise ValueError(
            "model: value_bias compares the critic with the environment's returns; "
            "pass the model itself, not a ChangedObjective"
        )
    n_pairs = check_count("n_pairs", n_pairs)
    max_prefix = check_count("max_prefix", max_prefix, minimum=0)
    if horizon is None:
        horizon = math.ceil(math.log(HORIZON_TOLERANCE) / math.log(agent.gamma)) if agent.gamma < 1 else 1000
    horizon = check_count("horizon", horizon)
    beta = check_beta(beta, agent, training=True)
    if not (isinstance(env, str) or callable(env)):
        raise TypeError(
            f"env must be an environment id or a function making the environment (value_bias runs one environment "
            f"per state-action pair), got {type(env).__name__}"
        )
    rng = np.random.default_rng(seed)
    generator = agent.generator(seed)
    prefixes = rng.integers(0, max_prefix + 1, size=n_pairs)
    envs = [
        gym.make(env, max_episode_steps=int(prefix) + horizon + 1) if isinstance(env, str) else env()
        for prefix in prefixes
    ]  # fmt: skip
    policy = agent.policy

    observations = []
    for index, environment in enumerate(envs):
        environment.action_space.seed(seed + index)
        observations.append(environment.reset(seed=seed + index)[0])
    # the random prefix; an episode that ends in it starts again and goes on counting down
    for index, environment in enumerate(envs):
        for _ in range(prefixes[index]):
            observations[index], _, terminated, truncated, _ = environment.step(environment.action_space.sample())
            if terminated or truncated:
                observations[index] = environment.reset()[0]

    # the pairs: uniform random actions, valued by the critic in the policy's action space [−1, 1]
    env_actions = np.stack([environment.action_space.sample() for environment in envs])
    obs = agent.observations(_stack(observations))
    actions = th.as_tensor(policy.scale_action(env_actions), dtype=th.float32, device=agent.device)
    with th.no_grad():
        estimates = agent.bind(obs).value(actions.unsqueeze(0), beta)[0].cpu().numpy()

    returns = np.zeros(n_pairs)
    active = np.ones(n_pairs, dtype=bool)
    cut = np.zeros(n_pairs, dtype=bool)
    for step in range(horizon + 1):
        if step > 0:  # the agent acts from the second step on: a_t ~ π(·|s_t; λ_K)
            acting = np.flatnonzero(active)
            obs = agent.observations(_stack([observations[i] for i in acting]))
            value_estimate = agent.bind(obs)
            trace = agent.amortized(obs, value_estimate, beta, generator)
            with th.no_grad():
                noise = agent.noise(1, len(acting), generator)
                policy_actions, log_prob = trace.distribution.sample(trace.mu, trace.log_std, noise)
            env_actions[acting] = policy.unscale_action(policy_actions[0].cpu().numpy())
            returns[acting] -= agent.gamma**step * agent.ent_coef * log_prob[0].cpu().numpy()
        for i in np.flatnonzero(active):
            observations[i], reward, terminated, truncated, _ = envs[i].step(env_actions[i])
            returns[i] += agent.gamma**step * float(reward)
            if terminated or truncated:
                active[i] = False
                cut[i] = truncated and not terminated and step < horizon
        if not active.any():
            break
    for environment in envs:
        environment.close()
    return ValueBias(estimates=estimates, returns=returns, truncated=cut, beta=beta)


def _stack(observations: list[Any]) -> Any:
    if isinstance(observations[0], dict):
        return {key: np.stack([obs[key] for obs in observations]) for key in observations[0]}
    return np.stack(observations)
