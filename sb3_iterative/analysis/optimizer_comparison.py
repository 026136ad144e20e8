"""Optimizer efficiency (paper Fig. 4c, 18, Appendix B.4): iterative amortization against Adam and CEM.

From the same start, the iterative optimizer's λ_0, three optimizers of J run on the same states:
the trained iterative optimizer for its K iterations, Adam (lr 0.01, 10 samples per gradient) and
the cross-entropy method. CEM is the paper's by default (``cem="actions"``: 100 actions sampled from
π, a Gaussian fit to the best 10, a step of 0.01 towards it; :func:`action_cross_entropy_method`), or
a CEM over λ itself (``cem="lambda"``: 100 candidate λ per iteration, each with 10 samples of J,
refit fully to the best 10; :func:`cross_entropy_method`). J is estimated at every iteration of each
on the same samples, and the wall time of each iteration is measured: each optimizer's iterations and
seconds to reach the J the iterative optimizer reaches at K. The paper finds that Adam and CEM need
more than ten times as many iterations.
"""

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import (
    Agent,
    Model,
    as_agent,
    check_beta,
    keeps_training_mode,
    repeat_observations,
)
from sb3_iterative.analysis.optimizers import OptimizationPath, action_cross_entropy_method, adam, cross_entropy_method
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.options import check_count, check_positive
from sb3_iterative.objective import ValueEstimate

# Runs of the iterative optimizer behind its wall time per iteration
TIMING_REPEATS = 10
CEM_VARIANTS = ("actions", "lambda")


@dataclass
class OptimizerComparison:
    """J(s, λ_t) per optimizer, ``values[name]`` [T + 1, B] (t = 0 is the common start), the λ each
    ends at (``final_mu[name]``, ``final_log_std[name]``, each [B, A]), and the mean wall time of one
    iteration of each, in seconds."""

    values: dict[str, np.ndarray]
    final_mu: dict[str, np.ndarray]
    final_log_std: dict[str, np.ndarray]
    seconds_per_iteration: dict[str, float]
    beta: float
    cem: str = "actions"  # which CEM: the paper's over actions, or over λ

    @property
    def target(self) -> float:
        """The mean J the iterative optimizer reaches in its K iterations."""
        return float(self.values["iterative"][-1].mean())

    def iterations_to_match(self, name: str) -> int | None:
        """The first iteration at which the mean J of optimizer ``name`` reaches :attr:`target`
        (None if it does not within its budget)."""
        reached = np.flatnonzero(self.values[name].mean(axis=1) >= self.target)
        return int(reached[0]) if len(reached) else None

    def seconds_to_match(self, name: str) -> float | None:
        """The wall time optimizer ``name`` takes to reach :attr:`target`: its iterations to match (K for the
        iterative optimizer) times its mean seconds per iteration (None if it does not reach it)."""
        iterations = len(self.values[name]) - 1 if name == "iterative" else self.iterations_to_match(name)
        return None if iterations is None else iterations * self.seconds_per_iteration[name]

    def summary(self) -> dict[str, Any]:
        return dict(
            iterative_iterations=len(self.values["iterative"]) - 1,
            target_objective=self.target,
            cem=self.cem,
            iterations_to_match={name: self.iterations_to_match(name) for name in ("adam", "cem")},
            seconds_to_match={name: self.seconds_to_match(name) for name in ("iterative", "adam", "cem")},
            budget={name: len(self.values[name]) - 1 for name in ("adam", "cem")},
            final_objective={name: float(values[-1].mean()) for name, values in self.values.items()},
            seconds_per_iteration=self.seconds_per_iteration,
            beta=self.beta,
        )

    def plot(self, ax: Axes | None = None) -> Figure:
        """Mean J against the iteration, for each optimizer (log-scaled iterations)."""
        figure, ax = axes(ax)
        for name, values in self.values.items():
            iterations = np.arange(len(values))
            ax.plot(
                iterations[1:], values.mean(axis=1)[1:], marker="o" if name == "iterative" else None, markersize=3, label=name
            )
        ax.axhline(self.target, color="gray", linestyle="--", linewidth=1, label="iterative at K")
        ax.set_xscale("log")
        ax.set_xlabel("iteration")
        ax.set_ylabel("mean J(s, λ)")
        ax.legend()
        return figure


@keeps_training_mode
def compare_optimizers(
    model: Model,
    states: Any,
    adam_steps: int = 500,
    cem_steps: int = 1000,
    adam_lr: float = 0.01,
    n_action_samples: int = 10,
    cem: str = "actions",
    cem_candidates: int = 100,
    cem_elites: int = 10,
    cem_step_size: float = 0.01,
    cem_init_std: float = 1.0,
    n_eval_samples: int = 100,
    beta: float | None = None,
    seed: int = 0,
) -> OptimizerComparison:
    """The iterative optimizer, Adam and CEM on J from the same λ_0 (Fig. 4c, Appendix B.4).

    :param model: a model of the package with the iterative actor, or a :class:`ChangedObjective` of one
    :param states: B observations [B, *observation shape]
    :param adam_steps: iterations of Adam
    :param cem_steps: iterations of CEM
    :param adam_lr: Adam's learning rate
    :param n_action_samples: N, samples behind each Adam gradient (and each candidate's J with ``cem="lambda"``)
    :param cem: ``"actions"``, the paper's CEM (actions sampled from π, a step towards the elites' fit), or
        ``"lambda"`` (candidate λ, each with its own estimate of J, refit fully)
    :param cem_candidates: actions (or λ) sampled per state and CEM iteration
    :param cem_elites: samples CEM fits to
    :param cem_step_size: the step towards the fit, ``cem="actions"`` only (the paper's 0.01)
    :param cem_init_std: the std of the first search distribution around λ_0, ``cem="lambda"`` only
    :param n_eval_samples: samples behind each J on the curves (the same for every optimizer and iteration)
    :param beta: β of J (None: the model's acting β, ``beta_collect``)
    :param seed: seed of every sample drawn here
    """
    agent = as_agent(model)
    if not agent.reads_objective:
        raise ValueError(
            f"model: compare_optimizers compares against an iterative optimizer; this model's actor is {agent.actor}"
        )
    adam_steps = check_count("adam_steps", adam_steps)
    cem_steps = check_count("cem_steps", cem_steps)
    adam_lr = check_positive("adam_lr", adam_lr)
    n_action_samples = check_count("n_action_samples", n_action_samples)
    cem_candidates = check_count("cem_candidates", cem_candidates, minimum=2)
    cem_elites = check_count("cem_elites", cem_elites, minimum=2)
    if cem_elites > cem_candidates:
        raise ValueError(f"cem_elites must be at most cem_candidates ({cem_candidates}), got {cem_elites}")
    cem_init_std = check_positive("cem_init_std", cem_init_std)
    cem_step_size = check_positive("cem_step_size", cem_step_size)
    if cem not in CEM_VARIANTS:
        raise ValueError(f"cem must be one of {CEM_VARIANTS}, got {cem!r}")
    if cem_step_size > 1:
        raise ValueError(f"cem_step_size must be in (0, 1] (a step towards the fit), got {cem_step_size}")
    n_eval_samples = check_count("n_eval_samples", n_eval_samples)
    beta = check_beta(beta, agent)
    obs = agent.observations(states)
    generator = agent.generator(seed)
    value_estimate = agent.bind(obs)

    trace = agent.amortized(obs, value_estimate, beta, generator)
    noise = agent.noise(n_eval_samples, trace.mu.shape[0], generator)
    n_iterations = len(trace.lambdas) - 1
    per_iteration = _seconds_per_iteration(agent, obs, value_estimate, beta, generator, n_iterations)
    paths = {"iterative": OptimizationPath.of(trace.lambdas, [per_iteration] * n_iterations)}

    mu_0, log_std_0 = trace.lambdas[0]
    paths["adam"] = adam(
        value_estimate, mu_0, log_std_0, agent.ent_coef, beta, adam_steps, adam_lr, n_action_samples, generator
    )

    if cem == "actions":
        paths["cem"] = action_cross_entropy_method(
            value_estimate, mu_0, log_std_0, agent.ent_coef, beta, cem_steps, cem_candidates, cem_elites, cem_step_size,
            generator,
        )  # fmt: skip
    else:
        repeated_value_estimate = agent.bind(repeat_observations(obs, cem_candidates))
        paths["cem"] = cross_entropy_method(
            repeated_value_estimate, mu_0, log_std_0, agent.ent_coef, beta, cem_steps, cem_candidates, cem_elites,
            n_action_samples, cem_init_std, generator,
        )  # fmt: skip
    return OptimizerComparison(
        values={name: agent.evaluate_path(value_estimate, path, noise, beta) for name, path in paths.items()},
        final_mu={name: path.mu[-1].cpu().numpy() for name, path in paths.items()},
        final_log_std={name: path.log_std[-1].cpu().numpy() for name, path in paths.items()},
        seconds_per_iteration={name: float(path.seconds.mean()) for name, path in paths.items()},
        beta=beta,
        cem=cem,
    )


def _seconds_per_iteration(
    agent: Agent, obs: Any, value_estimate: ValueEstimate, beta: float, generator: th.Generator, n_iterations: int
) -> float:
    """Wall time of one iteration of the iterative optimizer, the median over repeated runs (the first
    run, above, pays for allocations that Adam and CEM pay once over hundreds of iterations)."""
    times = []
    for _ in range(TIMING_REPEATS):
        start = time.perf_counter()
        agent.amortized(obs, value_estimate, beta, generator)
        times.append((time.perf_counter() - start) / n_iterations)
    return float(np.median(times))
