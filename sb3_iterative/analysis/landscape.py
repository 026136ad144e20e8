"""Optimization landscapes (paper Fig. 1, 19): J over one or two dimensions of µ for one state.

J(s, λ) on a grid of µ values in the chosen dimensions, every other number of λ held at the
amortized λ (µ in the other dimensions, and log σ), on the same samples at every grid point, so
the surface is smooth. Drawn on it: the amortized estimate (for an iterative optimizer, its path
λ_0 → λ_K), and the optimum Adam reaches from it (the amortization gap's optimizer). µ is taken
before the tanh, as the policy parameterizes it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import Model, as_agent, check_beta, keeps_training_mode, repeat_observations
from sb3_iterative.analysis.optimizers import adam
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.options import check_count

# The grid covers at least [−LIMIT, LIMIT] (tanh(3) ≈ 0.995) and every point drawn, with a margin
LIMIT = 3.0
MARGIN = 0.5
# Grid points per evaluation of J: bounds the critic's batch (chunk × samples) and so the memory
GRID_CHUNK = 256


@dataclass
class Landscape:
    """J on a grid over ``dims`` of µ for one state.

    ``values[i]`` (one dimension) or ``values[i, j]`` (two) is J at µ[dims[0]] = ``grid[0][i]``
    (and µ[dims[1]] = ``grid[1][j]``). ``path`` is µ[dims] along the amortized optimization [K + 1, D]
    (one row for a direct actor), ``optimum`` µ[dims] after Adam [D].
    """

    dims: tuple[int, ...]
    grid: list[np.ndarray]
    values: np.ndarray
    path: np.ndarray
    optimum: np.ndarray
    beta: float

    @property
    def argmax(self) -> np.ndarray:
        """µ[dims] at the grid point of largest J [D]."""
        index = np.unravel_index(self.values.argmax(), self.values.shape)
        return np.array([axis[i] for axis, i in zip(self.grid, index, strict=True)])

    def summary(self) -> dict[str, Any]:
        return dict(
            dims=list(self.dims),
            grid_argmax=self.argmax.tolist(),
            grid_max=float(self.values.max()),
            amortized=self.path[-1].tolist(),
            optimum=self.optimum.tolist(),
            beta=self.beta,
        )

    def plot(self, ax: Axes | None = None, points: np.ndarray | None = None, points_label: str = "runs") -> Figure:
        """Contours of J (or its curve, for one dimension) with the amortized path and the optimum.

        :param points: more µ[dims] to mark [P, D], e.g. the runs of :func:`policy_modes`
        """
        figure, ax = axes(ax, size=(5.0, 4.2))
        path_label = "iterative path" if len(self.path) > 1 else "direct estimate"
        if len(self.dims) == 1:
            ax.plot(self.grid[0], self.values, color="black", linewidth=1)

            def value_at(mu: np.ndarray) -> np.ndarray:
                return np.interp(mu, self.grid[0], self.values)

            ax.plot(self.path[:, 0], value_at(self.path[:, 0]), "o-", color="tab:blue", label=path_label)
            ax.plot(self.optimum[0], value_at(self.optimum[0]), "*", color="tab:red", markersize=12, label="optimum (Adam)")
            if points is not None:
                ax.plot(points[:, 0], value_at(points[:, 0]), "x", color="tab:green", label=points_label)
            ax.set_xlabel(f"µ_{self.dims[0]}")
            ax.set_ylabel("J(s, λ)")
        else:
            contours = ax.contourf(self.grid[0], self.grid[1], self.values.T, levels=30, cmap="viridis")
            figure.colorbar(contours, ax=ax, label="J(s, λ)")
            ax.plot(self.path[:, 0], self.path[:, 1], "o-", color="white", markersize=4, label=path_label)
            ax.plot(*self.optimum, "*", color="tab:red", markersize=14, label="optimum (Adam)")
            if points is not None:
                ax.plot(points[:, 0], points[:, 1], "x", color="tab:orange", markersize=8, label=points_label)
            ax.set_xlabel(f"µ_{self.dims[0]}")
            ax.set_ylabel(f"µ_{self.dims[1]}")
        ax.legend(fontsize="small")
        return figure


@keeps_training_mode
def objective_landscape(
    model: Model,
    state: Any,
    dims: Sequence[int] = (0, 1),
    resolution: int = 41,
    n_eval_samples: int = 100,
    adam_steps: int = 100,
    adam_lr: float = 5e-3,
    n_action_samples: int = 10,
    extra_points: np.ndarray | None = None,
    beta: float | None = None,
    seed: int = 0,
) -> Landscape:
    """J over ``dims`` of µ for one ``state``, around the amortized λ (Fig. 1).

    :param model: a model of the package or a stock SAC, TQC or CrossQ agent, or a :class:`ChangedObjective`
    :param state: one observation (not a batch)
    :param dims: one or two distinct action dimensions
    :param resolution: grid points per dimension
    :param n_eval_samples: samples behind J (the same at every grid point)
    :param adam_steps: Adam's steps from the amortized λ to the optimum drawn
    :param adam_lr: Adam's learning rate
    :param n_action_samples: N, samples behind each Adam gradient
    :param extra_points: more µ[dims] the grid must cover [P, D] (e.g. runs to draw on it)
    :param beta: β of J (None: the model's acting β, ``beta_collect``; 1 for SAC)
    :param seed: seed of every sample drawn here
    """
    agent = as_agent(model)
    dims = _check_dims(dims, agent.action_dim)
    resolution = check_count("resolution", resolution, minimum=2)
    n_eval_samples = check_count("n_eval_samples", n_eval_samples)
    beta = check_beta(beta, agent)
    obs = agent.single_observation(state)
    generator = agent.generator(seed)

    value_estimate = agent.bind(obs)
    trace = agent.amortized(obs, value_estimate, beta, generator)
    mu, log_std = trace.mu, trace.log_std  # [1, A]
    distribution = trace.distribution  # bound to the one state: it broadcasts over the grid
    optimum = adam(
        value_estimate, mu, log_std, agent.ent_coef, beta, adam_steps, adam_lr, n_action_samples, generator, distribution
    )
    path = th.stack([mu_k[0, list(dims)] for mu_k, _ in trace.lambdas]).cpu().numpy()
    best = optimum.mu[-1, 0, list(dims)].cpu().numpy()

    drawn = np.concatenate([path, best[None]] + ([np.asarray(extra_points)] if extra_points is not None else []))
    low = min(-LIMIT, drawn.min() - MARGIN)
    high = max(LIMIT, drawn.max() + MARGIN)
    grid = [np.linspace(low, high, resolution) for _ in dims]
    mesh = np.stack(np.meshgrid(*grid, indexing="ij"), axis=-1).reshape(-1, len(dims))  # [G, D]

    # every grid point is a copy of the state with its own µ: [G, A]
    grid_mu = mu.repeat(len(mesh), 1)
    grid_mu[:, list(dims)] = th.as_tensor(mesh, dtype=mu.dtype, device=mu.device)
    noise = agent.noise(n_eval_samples, 1, generator)
    values = th.cat([
        agent.evaluate(
            agent.bind(repeat_observations(obs, len(chunk))),
            chunk,
            log_std.expand(len(chunk), -1),
            noise.expand(-1, len(chunk), -1),
            beta,
            distribution,
        )
        for chunk in grid_mu.split(GRID_CHUNK)
    ])  # fmt: skip
    return Landscape(
        dims=dims,
        grid=grid,
        values=values.cpu().numpy().reshape([resolution] * len(dims)),
        path=path,
        optimum=best,
        beta=beta,
    )


def plot_landscape(model: Model, state: Any, dims: Sequence[int] = (0, 1), ax: Axes | None = None, **kwargs: Any) -> Figure:
    """The figure of :func:`objective_landscape` (same arguments), drawn on ``ax`` if given."""
    return objective_landscape(model, state, dims, **kwargs).plot(ax)


def _check_dims(dims: Sequence[int], action_dim: int) -> tuple[int, ...]:
    dims = tuple(dims) if isinstance(dims, Sequence) else (dims,)
    valid = all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and 0 <= d < action_dim for d in dims)
    if not valid or len(dims) not in (1, 2) or len(set(dims)) != len(dims):
        raise ValueError(
            f"dims must be one or two distinct action dimensions in 0..{action_dim - 1} (the action space has "
            f"{action_dim}), got {dims!r}"
        )
    return tuple(int(d) for d in dims)
