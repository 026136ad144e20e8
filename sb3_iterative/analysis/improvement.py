"""Per-iteration improvement (paper Fig. 4b, 17): J(s, λ_k) along the iterative optimizer's path.

The optimizer runs for ``n_iterations`` updates, which may exceed the K it was trained with (Fig. 21:
extra test-time iterations), and J is estimated at every λ_k, k = 0..n, on the same samples for
every k. The per-step improvement of the paper is J(λ_K) − J(λ_0) at the trained K.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import Model, as_agent, check_beta, keeps_training_mode
from sb3_iterative.analysis.optimizers import OptimizationPath
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.options import check_count


@dataclass
class ImprovementCurve:
    """J(s, λ_k) for k = 0..n over B states, ``values`` [n + 1, B]; the optimizer was trained with K."""

    values: np.ndarray
    trained_iterations: int
    beta: float

    @property
    def mean(self) -> np.ndarray:
        """J averaged over states, per iteration [n + 1]."""
        return self.values.mean(axis=1)

    @property
    def improvement(self) -> np.ndarray:
        """J(λ_K) − J(λ_0) per state at the trained K (or at n if n < K) [B]."""
        return self.values[min(self.trained_iterations, len(self.values) - 1)] - self.values[0]

    def summary(self) -> dict[str, Any]:
        return dict(
            trained_iterations=self.trained_iterations,
            mean_objective=[float(value) for value in self.mean],
            mean_improvement=float(self.improvement.mean()),
            n_states=self.values.shape[1],
            beta=self.beta,
        )

    def plot(self, ax: Axes | None = None, label: str | None = None) -> Figure:
        """J(λ_k) − J(λ_0) against the iteration k: mean ± std over states (J itself varies across
        states far more than along the iterations)."""
        figure, ax = axes(ax)
        gain = self.values - self.values[0]
        iterations = np.arange(len(gain))
        mean, std = gain.mean(axis=1), gain.std(axis=1)
        ax.plot(iterations, mean, marker="o", markersize=3, label=label or "mean over states")
        ax.fill_between(iterations, mean - std, mean + std, alpha=0.2)
        ax.axvline(
            self.trained_iterations, color="gray", linestyle="--", linewidth=1, label=f"trained K = {self.trained_iterations}"
        )
        ax.set_xlabel("iteration k")
        ax.set_ylabel("J(s, λ_k) − J(s, λ_0)")
        ax.legend()
        return figure


@keeps_training_mode
def improvement_per_iteration(
    model: Model,
    states: Any,
    n_iterations: int = 20,
    n_eval_samples: int = 100,
    beta: float | None = None,
    seed: int = 0,
) -> ImprovementCurve:
    """J along the iterative optimizer's path on ``states``, for ``n_iterations`` updates.

    :param model: a model of the package with the iterative actor, or a :class:`ChangedObjective` of one
    :param states: B observations [B, *observation shape]
    :param n_iterations: updates to run (beyond the trained K if larger)
    :param n_eval_samples: samples behind each J (the same for every k)
    :param beta: β of J (None: the model's acting β, ``beta_collect``)
    :param seed: seed of every sample drawn here
    """
    agent = as_agent(model)
    if not agent.reads_objective:
        raise ValueError(f"model: improvement_per_iteration needs an iterative optimizer; this model's actor is {agent.actor}")
    n_iterations = check_count("n_iterations", n_iterations)
    n_eval_samples = check_count("n_eval_samples", n_eval_samples)
    beta = check_beta(beta, agent)
    obs = agent.observations(states)
    generator = agent.generator(seed)

    value_estimate = agent.bind(obs)
    trace = agent.amortized(obs, value_estimate, beta, generator, n_iterations)
    noise = agent.noise(n_eval_samples, trace.mu.shape[0], generator)
    return ImprovementCurve(
        values=agent.evaluate_path(value_estimate, OptimizationPath.of(trace.lambdas), noise, beta),
        trained_iterations=agent.n_iterations,
        beta=beta,
    )
