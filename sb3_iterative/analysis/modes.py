"""Multiple policy modes (paper Fig. 2, 7, Appendix B.7): do repeated optimizations of one state agree?

For each state, ``n_runs`` optimizations of J, and the pairwise L2 distances between their
deterministic actions tanh(µ), at most 2√|A| (opposite corners of [−1, 1]^|A|). Runs of the
iterative optimizer differ by the samples behind its estimates of ∇_λ J, which is how the agent
itself acts; distances far from zero mean it reaches different modes of J from one state. A direct
actor gives one λ per state, so its runs are Adam's, from random λ (µ uniform in [−2, 2]^|A| before
the tanh, σ = 0.5): they show the modes of its J, of which the actor can represent one.
"""

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import (
    keeps_training_mode,
    Model,
    as_agent,
    check_beta,
    check_count,
    check_positive,
    repeat_observations,
)
from sb3_iterative.analysis.optimizers import adam
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.iterative_actor import observation_batch_size

RUN_OPTIMIZERS = ("iterative", "adam")
# Random starts of Adam's runs: µ ~ U(−RANDOM_MU, RANDOM_MU) (tanh(2) ≈ 0.96), σ = RANDOM_STD
RANDOM_MU = 2.0
RANDOM_STD = 0.5


@dataclass
class PolicyModes:
    """``n_runs`` optimizations per state: λ of each run (µ and log σ [B, n_runs, A])."""

    mu: np.ndarray
    log_std: np.ndarray
    optimizer: str
    beta: float

    @property
    def actions(self) -> np.ndarray:
        """The deterministic action tanh(µ) of each run [B, n_runs, A]."""
        return np.tanh(self.mu)

    @property
    def distances(self) -> np.ndarray:
        """Pairwise L2 distances between the runs' tanh(µ), per state [B, n_runs·(n_runs − 1)/2]."""
        actions = self.actions
        first, second = np.triu_indices(actions.shape[1], k=1)
        return np.linalg.norm(actions[:, first] - actions[:, second], axis=-1)

    @property
    def max_distance(self) -> float:
        """2√|A|, the largest distance two actions in [−1, 1]^|A| can have."""
        return 2 * math.sqrt(self.mu.shape[-1])

    @property
    def widest_state(self) -> int:
        """The index of the state whose runs are farthest apart."""
        return int(self.distances.max(axis=1).argmax())

    def summary(self) -> dict[str, Any]:
        distances = self.distances
        counts, edges = np.histogram(distances, bins=10, range=(0.0, self.max_distance))
        return dict(
            optimizer=self.optimizer,
            n_runs=self.mu.shape[1],
            n_states=self.mu.shape[0],
            max_distance=self.max_distance,
            mean_distance=float(distances.mean()),
            quantiles={f"{q:g}": float(np.quantile(distances, q)) for q in (0.5, 0.9, 0.99)},
            largest_distance=float(distances.max()),
            widest_state=self.widest_state,
            histogram=dict(counts=counts.tolist(), edges=edges.tolist()),
            beta=self.beta,
        )

    def plot(self, ax: Axes | None = None, label: str | None = None) -> Figure:
        """Histogram of the pairwise distances over all states, on [0, 2√|A|]."""
        figure, ax = axes(ax)
        ax.hist(self.distances.ravel(), bins=40, range=(0.0, self.max_distance), alpha=0.7, label=label or self.optimizer)
        ax.set_xlabel("pairwise distance between runs' tanh(µ)")
        ax.set_ylabel("pairs of runs")
        ax.set_yscale("log")
        ax.legend()
        return figure


@keeps_training_mode
def policy_modes(
    model: Model,
    states: Any,
    n_runs: int = 10,
    optimizer: str | None = None,
    adam_steps: int = 200,
    adam_lr: float = 0.05,
    n_action_samples: int = 10,
    beta: float | None = None,
    seed: int = 0,
) -> PolicyModes:
    """``n_runs`` optimizations of J per state and the distances between their actions (Fig. 7, B.7).

    :param model: an IterativeSAC or SAC model, or a :class:`ChangedObjective`
    :param states: B observations [B, *observation shape]
    :param n_runs: optimizations per state (at least 2)
    :param optimizer: ``"iterative"`` (the model's iterative optimizer, runs differing by its samples)
        or ``"adam"`` (Adam from random λ); None: ``"iterative"`` for an iterative model, else ``"adam"``
    :param adam_steps: Adam's steps per run (enough to cross [−2, 2] at ``adam_lr``)
    :param adam_lr: Adam's learning rate
    :param n_action_samples: N, samples behind each Adam gradient
    :param beta: β of J (None: the model's acting β, ``beta_collect``; 1 for SAC)
    :param seed: seed of every sample drawn here
    """
    agent = as_agent(model)
    if agent.actor == "flow":
        raise ValueError(
            "model: policy_modes compares the actions tanh(µ) of per-state optima; a flow policy's action is "
            "tanh(T(µ)) through its state's transforms, so its runs are not comparable that way (not supported)"
        )
    n_runs = check_count("n_runs", n_runs, minimum=2)
    if optimizer is None:
        optimizer = "iterative" if agent.iterative else "adam"
    if optimizer not in RUN_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {RUN_OPTIMIZERS} (or None), got {optimizer!r}")
    if optimizer == "iterative" and not agent.iterative:
        raise ValueError("optimizer='iterative' needs an iterative model; a direct actor gives one λ per state (use 'adam')")
    adam_steps = check_count("adam_steps", adam_steps)
    adam_lr = check_positive("adam_lr", adam_lr)
    n_action_samples = check_count("n_action_samples", n_action_samples)
    beta = check_beta(beta, agent.beta)
    obs = agent.observations(states)
    generator = agent.generator(seed)

    # every run of every state in one batch, run after run: [n_runs·B]
    repeated = repeat_observations(obs, n_runs)
    value_estimate = agent.bind(repeated)
    if optimizer == "iterative":
        trace = agent.amortized(repeated, value_estimate, beta, generator)
        mu, log_std = trace.mu, trace.log_std
    else:
        shape = (n_runs * observation_batch_size(obs), agent.action_dim)
        start_mu = (2 * th.rand(shape, generator=generator, device=agent.device) - 1) * RANDOM_MU
        start_log_std = th.full(shape, math.log(RANDOM_STD), device=agent.device)
        path = adam(
            value_estimate, start_mu, start_log_std, agent.ent_coef, beta, adam_steps, adam_lr, n_action_samples, generator
        )
        mu, log_std = path.mu[-1], path.log_std[-1]
    return PolicyModes(mu=_by_state(mu, n_runs), log_std=_by_state(log_std, n_runs), optimizer=optimizer, beta=beta)


def _by_state(runs: th.Tensor, n_runs: int) -> np.ndarray:
    """[n_runs·B, A], run after run, as [B, n_runs, A]."""
    return runs.view(n_runs, -1, runs.shape[-1]).transpose(0, 1).cpu().numpy()
