"""Multiple policy modes (paper Fig. 2, 7, Appendix B.7): do repeated optimizations of one state agree?

For each state, ``n_runs`` optimizations of J, and the pairwise L2 distances between their
deterministic actions tanh(µ), at most 2√|A| (opposite corners of [−1, 1]^|A|). Runs of the
iterative optimizer differ by the samples behind its estimates of ∇_λ J (and by their λ_0 when it is
random: the model's ``init_mu_std``, or ``policy_modes(..., init_mu_std=s)`` at test time), which is how the
agent itself acts; distances far from zero mean it reaches different modes of J from one state. A direct
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
    Model,
    as_agent,
    check_beta,
    keeps_training_mode,
    repeat_observations,
)
from sb3_iterative.analysis.changed_objective import ChangedObjective
from sb3_iterative.analysis.landscape import objective_landscape
from sb3_iterative.analysis.optimizers import adam
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.iterative_actor import observation_batch_size
from sb3_iterative.common.options import check_count, check_positive
from sb3_iterative.extras import import_extra

RUN_OPTIMIZERS = ("iterative", "adam")
# Runs whose actions tanh(µ) lie within this share of 2√|A| of each other (chained) are one mode
MODE_RADIUS_SHARE = 0.1
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

    def n_modes(self, radius: float | None = None) -> np.ndarray:
        """The number of distinct modes among each state's runs [B]: clusters of the runs' tanh(µ) linked
        by single linkage at ``radius`` (two runs are one mode when a chain of runs, each within ``radius``
        of the next, joins them).

        :param radius: L2 distance in the action space [−1, 1]^|A| (None: 0.1 · 2√|A|)
        """
        # scipy where it is used: the package imports without it (the [analysis] extra installs it)
        feature = "The policy modes (analysis.policy_modes)"
        csr_matrix = import_extra("scipy.sparse", "analysis", feature).csr_matrix
        connected_components = import_extra("scipy.sparse.csgraph", "analysis", feature).connected_components
        distance_matrix = import_extra("scipy.spatial", "analysis", feature).distance_matrix

        radius = MODE_RADIUS_SHARE * self.max_distance if radius is None else check_positive("radius", radius)
        # the connected components of the graph whose edges join runs within the radius
        return np.array(
            [
                connected_components(csr_matrix(distance_matrix(actions, actions) <= radius), directed=False)[0]
                for actions in self.actions
            ]
        )

    @property
    def widest_state(self) -> int:
        """The index of the state whose runs are farthest apart."""
        return int(self.distances.max(axis=1).argmax())

    def summary(self) -> dict[str, Any]:
        """Distances and modes per state (``modes_per_state["counts"][m − 1]``: the states with m modes)."""
        distances = self.distances
        n_modes = self.n_modes()
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
            mode_radius=MODE_RADIUS_SHARE * self.max_distance,
            modes_per_state=dict(
                mean=float(n_modes.mean()), counts=np.bincount(n_modes, minlength=self.mu.shape[1] + 1)[1:].tolist()
            ),
            histogram=dict(counts=counts.tolist(), edges=edges.tolist()),
            beta=self.beta,
        )

    def spread_dims(self, state: int | None = None) -> tuple[int, int]:
        """The two action dimensions along which a state's runs spread most (None: the widest state)."""
        state = self.widest_state if state is None else state
        if self.mu.shape[-1] < 2:
            raise ValueError("the runs' density over a pair of action dimensions needs |A| >= 2")
        first, second = np.argsort(self.actions[state].var(axis=0))[::-1][:2]
        return int(first), int(second)

    def density(
        self, state: int | None = None, dims: tuple[int, int] | None = None, resolution: int = 101
    ) -> tuple[np.ndarray, np.ndarray]:
        """The policy density of a state's runs over two action dimensions (Fig. 7c): the average of the
        runs' tanh-Gaussian marginals on a grid of (−1, 1)², each π(a) = N(atanh a; µ, σ²) / (1 − a²).

        :param state: a state's index (None: the widest state)
        :param dims: two action dimensions (None: :meth:`spread_dims`)
        :return: the grid [resolution] and the density [resolution, resolution] (first dimension by row)
        """
        state = self.widest_state if state is None else state
        dims = self.spread_dims(state) if dims is None else dims
        grid = np.linspace(-1, 1, resolution + 2)[1:-1]
        pre_tanh = np.arctanh(grid)
        density = np.zeros((resolution, resolution))
        for mu, log_std in zip(self.mu[state], self.log_std[state], strict=True):
            first, second = (_gaussian(pre_tanh, mu[d], np.exp(log_std[d])) / (1 - grid**2) for d in dims)
            density += np.outer(first, second)
        return grid, density / self.mu.shape[1]

    def plot_density(self, ax: Axes | None = None, state: int | None = None, dims: tuple[int, int] | None = None) -> Figure:
        """Contours of :meth:`density` (Fig. 7c) with the runs' tanh(µ) marked (same arguments)."""
        state = self.widest_state if state is None else state
        dims = self.spread_dims(state) if dims is None else dims
        figure, ax = axes(ax, size=(5.0, 4.2))
        grid, density = self.density(state, dims)
        contours = ax.contourf(grid, grid, density.T, levels=30, cmap="magma")
        figure.colorbar(contours, ax=ax, label="π(a)")
        ax.plot(*np.tanh(self.mu[state][:, list(dims)]).T, "x", color="white", markersize=7, label="runs' tanh(µ)")
        ax.set_xlabel(f"a_{dims[0]}")
        ax.set_ylabel(f"a_{dims[1]}")
        ax.set_title(f"policy density of {self.mu.shape[1]} {self.optimizer} runs, state {state}")
        ax.legend(fontsize="small")
        return figure

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
    init_mu_std: float | None = None,
) -> PolicyModes:
    """``n_runs`` optimizations of J per state and the distances between their actions (Fig. 7, B.7).

    :param model: a model of the package or a stock SAC, TQC or CrossQ agent, or a :class:`ChangedObjective`
    :param states: B observations [B, *observation shape]
    :param n_runs: optimizations per state (at least 2)
    :param optimizer: ``"iterative"`` (the model's iterative optimizer, runs differing by its samples)
        or ``"adam"`` (Adam from random λ); None: ``"iterative"`` for an iterative model, else ``"adam"``
    :param adam_steps: Adam's steps per run (enough to cross [−2, 2] at ``adam_lr``)
    :param adam_lr: Adam's learning rate
    :param n_action_samples: N, samples behind each Adam gradient
    :param beta: β of J (None: the model's acting β, ``beta_collect``; 1 for SAC)
    :param seed: seed of every sample drawn here
    :param init_mu_std: the iterative runs start from random λ_0, µ_0 ~ N(0, s²) with this s (None: as the
        model does, its ``init_mu_std``, 0 by default: every run from the fixed λ_0, differing by its samples)
    """
    agent = as_agent(model)
    if not agent.amortizer.tanh_gaussian:
        raise ValueError(
            "model: policy_modes compares the actions tanh(µ) of per-state optima; a flow policy's action is "
            "tanh(T(µ)) through its state's transforms, so its runs are not comparable that way (not supported)"
        )
    n_runs = check_count("n_runs", n_runs, minimum=2)
    if optimizer is None:
        optimizer = "iterative" if agent.reads_objective else "adam"
    if optimizer not in RUN_OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {RUN_OPTIMIZERS} (or None), got {optimizer!r}")
    if optimizer == "iterative" and not agent.reads_objective:
        raise ValueError("optimizer='iterative' needs an iterative model; a direct actor gives one λ per state (use 'adam')")
    if init_mu_std is not None and optimizer != "iterative":
        raise ValueError("init_mu_std sets the iterative optimizer's starts; Adam's runs start from random λ already")
    adam_steps = check_count("adam_steps", adam_steps)
    adam_lr = check_positive("adam_lr", adam_lr)
    n_action_samples = check_count("n_action_samples", n_action_samples)
    beta = check_beta(beta, agent)
    obs = agent.observations(states)
    generator = agent.generator(seed)

    # every run of every state in one batch, run after run: [n_runs·B]
    repeated = repeat_observations(obs, n_runs)
    value_estimate = agent.bind(repeated)
    if optimizer == "iterative":
        trace = agent.amortized(repeated, value_estimate, beta, generator, init_mu_std=init_mu_std)
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


@keeps_training_mode
def mode_mass(
    model: Model, state: Any, modes: np.ndarray, radius: float | None = None, n_samples: int = 1000, seed: int = 0
) -> np.ndarray:
    """The share of a policy's stochastic actions from one state near each of given modes [M] (the multiple-modes
    bed, :class:`sb3_iterative.envs.MultiModalBandit`): an action counts for the modes within ``radius`` of it.

    :param model: anything :func:`policy_actions` takes
    :param state: one observation
    :param modes: the modes' actions in the policy's action space [−1, 1]^|A| [M, A]
    :param radius: L2 distance (None: a third of the smallest distance between two modes, so no action counts twice)
    :param n_samples: actions drawn
    :param seed: seed of the actions' samples
    """
    modes = np.asarray(modes, dtype=np.float64)
    action_dim = as_agent(model).action_dim
    if modes.ndim != 2 or len(modes) < 1 or modes.shape[1] != action_dim:
        raise ValueError(
            f"modes must have the action space's {action_dim} dimensions, [M, {action_dim}], got shape {modes.shape}"
        )
    if radius is None:
        radius = min_distance(modes) / 3 if len(modes) > 1 else MODE_RADIUS_SHARE * 2 * math.sqrt(action_dim)
    radius = check_positive("radius", radius)
    actions = policy_actions(model, state, n_samples, seed)
    return (np.linalg.norm(actions[:, None] - modes[None], axis=-1) <= radius).mean(axis=0)


@keeps_training_mode
def policy_actions(model: Model, state: Any, n_samples: int = 1000, seed: int = 0) -> np.ndarray:
    """``n_samples`` stochastic actions of the policy from one state, as it collects data, in its action space
    [−1, 1]^|A| (before rescaling to the environment's bounds) [n_samples, A]. torch's global random state is
    left as it was.

    :param model: a model of the package or a stock SAC, TQC or CrossQ agent, or a :class:`ChangedObjective`
    :param state: one observation
    """
    agent = as_agent(model)
    n_samples = check_count("n_samples", n_samples)
    obs = repeat_observations(agent.single_observation(state), n_samples)
    policy = model if isinstance(model, ChangedObjective) else agent.policy
    with th.random.fork_rng(devices=[]), th.no_grad():
        th.manual_seed(seed)
        return policy._predict(obs, deterministic=False).cpu().numpy()


def min_distance(points: np.ndarray) -> float:
    """The smallest L2 distance between two of ``points`` [P, A]."""
    first, second = np.triu_indices(len(points), k=1)
    return float(np.linalg.norm(points[first] - points[second], axis=-1).min())


def _gaussian(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def _by_state(runs: th.Tensor, n_runs: int) -> np.ndarray:
    """[n_runs·B, A], run after run, as [B, n_runs, A]."""
    return runs.view(n_runs, -1, runs.shape[-1]).transpose(0, 1).cpu().numpy()


def plot_policy_modes(model: Model, states: Any, runs: PolicyModes | None = None, **kwargs: Any) -> Figure:
    """The paper's Fig. 7 for ``model``: (a) the distances between runs over all states, (b) J over the two
    action dimensions of µ along which the widest state's runs spread most, with the runs marked, (c) the
    policy density of those runs over the same two dimensions of the action.

    :param states: B observations [B, *observation shape]
    :param runs: :func:`policy_modes`'s result on ``states`` (None: computed here with ``kwargs``)
    """
    runs = policy_modes(model, states, **kwargs) if runs is None else runs
    state = runs.widest_state
    figure = Figure(figsize=(15.0, 4.2), layout="constrained")
    distances, landscape_ax, density_ax = figure.subplots(1, 3)
    runs.plot(distances)
    n_modes = runs.n_modes()[state]
    distances.set_title(f"(a) {runs.optimizer}: {n_modes} mode{'' if n_modes == 1 else 's'} at the widest state")
    if runs.mu.shape[-1] < 2:
        return figure
    dims = runs.spread_dims(state)
    one_state = states[state] if not isinstance(states, dict) else {key: value[state] for key, value in states.items()}
    points = runs.mu[state][:, list(dims)]
    landscape = objective_landscape(model, one_state, dims, extra_points=points, beta=runs.beta)
    landscape.plot(landscape_ax, points=points)
    landscape_ax.set_title(f"(b) J at the widest state (state {state})")
    runs.plot_density(density_ax, state, dims)
    density_ax.set_title("(c) the runs' policy density")
    return figure
