"""Planning through a model (paper Fig. 13b, c): what the iterative optimizer's J predicts, iteration by iteration.

With the model-based value estimate, J(s, λ) is a short rollout of the learned model, and ∇_λ J reaches
λ through the predicted states: the iterative optimizer plans. For one state, at every λ_k of the
optimizer's path (k = 0..K), the model is rolled out from the mean action tanh(µ_k), with the rollout
policy's mean actions after it: the planned trajectory of Fig. 13b, the state s_0 and h predicted
states per iteration. J(s, λ_k) along the path is Fig. 13c.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from matplotlib import colormaps
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import Model, as_agent, check_beta, keeps_training_mode
from sb3_iterative.analysis.changed_objective import QWithTerm
from sb3_iterative.analysis.optimizers import OptimizationPath
from sb3_iterative.common.options import check_count
from sb3_iterative.model_based import ModelBasedValue


@dataclass
class PlannedTrajectories:
    """For one state: ``states`` [K + 1, h + 1, |S|], the model's predicted states s_0..s_h for each λ_k,
    and ``objective`` [K + 1], J(s, λ_k); ``actions`` [K + 1, A], the first action tanh(µ_k)."""

    states: np.ndarray
    actions: np.ndarray
    objective: np.ndarray
    trained_iterations: int
    beta: float

    def summary(self) -> dict[str, Any]:
        return dict(
            n_iterations=len(self.objective) - 1,
            trained_iterations=self.trained_iterations,
            horizon=self.states.shape[1] - 1,
            objective=[float(value) for value in self.objective],
            improvement=float(self.objective[-1] - self.objective[0]),
            beta=self.beta,
        )

    def plot(self, dims: tuple[int, ...] | None = None) -> Figure:
        """Left: predicted state dimensions over the rollout steps, one line per iteration k (Fig. 13b);
        right: J(s, λ_k) against k (Fig. 13c).

        :param dims: the state dimensions to draw (default: the 3 that move most across iterations)
        """
        if dims is None:
            spread = self.states[:, 1:].std(axis=0).mean(axis=0) if self.states.shape[1] > 1 else self.states[:, 0].std(axis=0)
            dims = tuple(int(dim) for dim in np.argsort(spread)[::-1][: min(3, self.states.shape[2])])
        figure = Figure(figsize=(4.0 * len(dims) + 4.0, 3.6), layout="constrained")
        grid = figure.subplots(1, len(dims) + 1, squeeze=False)[0]
        n_lambdas, steps = self.states.shape[0], np.arange(self.states.shape[1])
        colours = [colormaps["viridis"](k / max(1, n_lambdas - 1)) for k in range(n_lambdas)]
        for ax, dim in zip(grid[:-1], dims, strict=False):
            for k in range(n_lambdas):
                ax.plot(steps, self.states[k, :, dim], marker="o", markersize=3, color=colours[k], label=f"k = {k}")
            ax.set_xlabel("model step i")
            ax.set_ylabel(f"predicted state dim {dim}")
            ax.set_xticks(steps)
        grid[0].legend(fontsize="small")
        ax = grid[-1]
        ax.plot(np.arange(n_lambdas), self.objective, marker="o")
        ax.axvline(self.trained_iterations, color="gray", linestyle="--", linewidth=1)
        ax.set_xlabel("iteration k")
        ax.set_ylabel("J(s, λ_k), model-based")
        return figure


@keeps_training_mode
def planned_trajectories(
    model: Model,
    state: Any,
    n_iterations: int | None = None,
    n_eval_samples: int = 100,
    beta: float | None = None,
    seed: int = 0,
) -> PlannedTrajectories:
    """The model's planned trajectory at each iteration of the optimizer on ``state`` (Fig. 13b), and J (13c).

    :param model: an IterativeSAC model with the iterative actor and ``value_estimator="model"``, or a
        :class:`ChangedObjective` (e.g. :func:`transfer_optimizer`) whose objective is model-based
    :param state: one observation
    :param n_iterations: updates to run (None: the trained K)
    :param n_eval_samples: samples behind each J (the same for every k)
    :param beta: β of J (None: the model's acting β, ``beta_collect``)
    :param seed: seed of every sample drawn here
    """
    agent = as_agent(model)
    if not agent.reads_objective:
        raise ValueError(f"model: planned trajectories follow an iterative optimizer; this model's actor is {agent.actor}")
    if n_iterations is not None:
        n_iterations = check_count("n_iterations", n_iterations)
    n_eval_samples = check_count("n_eval_samples", n_eval_samples)
    beta = check_beta(beta, agent)
    obs = agent.single_observation(state)
    value_estimate = agent.bind(obs)
    # a term added at test time (ChangedObjective) changes J, not the model's rollout
    model_value = value_estimate.value_estimate if isinstance(value_estimate, QWithTerm) else value_estimate
    if not isinstance(model_value, ModelBasedValue):
        raise ValueError(
            "model: planned trajectories need a model-based objective (policy_kwargs=dict(value_estimator='model')); "
            "this model's J has no model to plan through"
        )
    generator = agent.generator(seed)
    trace = agent.amortized(obs, value_estimate, beta, generator, n_iterations)
    noise = agent.noise(n_eval_samples, 1, generator)
    states, actions = [], []
    with th.no_grad():
        for mu, _ in trace.lambdas:
            first_action = th.tanh(mu).unsqueeze(0)  # [1, 1, A]
            rollout = model_value.rollout(first_action, beta, deterministic=True)
            states.append(th.stack([step[0, 0] for step in rollout.states]).cpu().numpy())
            actions.append(first_action[0, 0].cpu().numpy())
    return PlannedTrajectories(
        states=np.stack(states),
        actions=np.stack(actions),
        objective=agent.evaluate_path(value_estimate, OptimizationPath.of(trace.lambdas), noise, beta)[:, 0],
        trained_iterations=agent.n_iterations,
        beta=beta,
    )
