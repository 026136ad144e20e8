"""Few-seed statistics as the field reads them (Agarwal et al., NeurIPS 2021), computed by rliable.

Every interval is rliable's stratified bootstrap (``get_interval_estimates``: runs resampled within
each task, percentile intervals), from a fixed seed so that a report is reproducible.

- Per environment: the interquartile mean (IQM: the mean of the middle 50 % of runs) and the mean of
  the final return and of the AUC, in units of return.
- Across environments, on normalized scores (:mod:`sb3_iterative.compare.references`): aggregate
  IQM and mean over all runs, median of the tasks' mean scores, and optimality gap (the mean
  shortfall below a normalized score of 1), the
  probability that an algorithm's run beats the baseline's on a task drawn at random, P(X > Y),
  and performance profiles (the fraction of runs above each normalized score τ).
- Sample efficiency: the IQM of each evaluation step's return over runs, with its interval.

An interval needs at least 2 runs of every algorithm it involves; with one it is NaN ("unavailable"),
never a bootstrap of a single number.
"""

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from rliable import library as rly
from rliable import metrics, plot_utils

CONFIDENCE = 0.95
REPS = 2000  # bootstrap replications
SEED = 0  # the bootstrap's random state

AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "IQM": metrics.aggregate_iqm,
    "mean": metrics.aggregate_mean,
    "median": metrics.aggregate_median,
    "optimality gap": metrics.aggregate_optimality_gap,
}


@contextlib.contextmanager
def _seeded() -> Iterator[None]:
    """rliable's bootstraps draw their indices from numpy's global generator (its ``random_state``
    argument does not reach them): seed it for a reproducible report, and put its state back after."""
    state = np.random.get_state()
    np.random.seed(SEED)
    try:
        yield
    finally:
        np.random.set_state(state)


def interval_estimates(
    scores: Mapping[str, np.ndarray] | Mapping[str, tuple[np.ndarray, np.ndarray]], func: Callable[..., np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point estimates ``func(scores)`` and their stratified bootstrap intervals [2, ...] per key.

    :param scores: per key, an array [runs, tasks, ...] (or a pair of them, for two-sample statistics)
    :return: points and intervals; an interval is NaN where a key has fewer than 2 runs
    """
    points: dict[str, np.ndarray] = {}
    intervals: dict[str, np.ndarray] = {}
    for key, value in scores.items():
        arrays = value if isinstance(value, tuple) else (value,)
        points[key] = np.asarray(func(*arrays), dtype=float)
        if min(len(array) for array in arrays) < 2:
            intervals[key] = np.full((2, *points[key].shape), np.nan)
            continue
        with _seeded():
            _, estimated = rly.get_interval_estimates({key: value}, func, reps=REPS, confidence_interval_size=CONFIDENCE)
        intervals[key] = np.asarray(estimated[key], dtype=float)
    return points, intervals


LOCATIONS: dict[str, Callable[[np.ndarray], float]] = {"IQM": metrics.aggregate_iqm, "mean": metrics.aggregate_mean}
IMPROVEMENT = "P(X > Y)"


def named_estimates(
    scores: Mapping[str, np.ndarray] | Mapping[str, tuple[np.ndarray, np.ndarray]],
    functions: Mapping[str, Callable[..., float]],
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Each statistic of ``functions`` on each key's scores, with its interval: {key: {name: (point, low, high)}}."""
    names = list(functions)
    points, intervals = interval_estimates(scores, lambda *x: np.array([functions[name](*x) for name in names]))
    return {
        key: {
            name: (float(points[key][i]), float(intervals[key][0, i]), float(intervals[key][1, i]))
            for i, name in enumerate(names)
        }
        for key in scores
    }


def location(scores: Mapping[str, np.ndarray]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM and mean of per-task scores [runs, tasks] with their intervals: {key: {"IQM": (point, low, high), ...}}."""
    return named_estimates(scores, LOCATIONS)


def aggregates(scores: Mapping[str, np.ndarray]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM, mean, median and optimality gap of normalized scores [runs, tasks] with their intervals."""
    return named_estimates(scores, AGGREGATES)


def probability_of_improvement(scores: Mapping[str, np.ndarray], baseline: str) -> dict[str, tuple[float, float, float]]:
    """P(X > Y) of each algorithm X against ``baseline`` Y, on scores [runs, tasks], with its interval.

    For each task, the probability that a run of X scores above a run of Y (ties count half; the
    Mann-Whitney U statistic over the runs' pairs), averaged over tasks.
    """
    pairs = {algo: (scores[algo], scores[baseline]) for algo in scores if algo != baseline}
    estimates = named_estimates(pairs, {IMPROVEMENT: metrics.probability_of_improvement})
    return {algo: numbers[IMPROVEMENT] for algo, numbers in estimates.items()}


def iqm_curves(curves: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The IQM over runs at each evaluation of returns [runs, tasks, evaluations], with its intervals [2, evaluations]."""
    return interval_estimates(curves, lambda x: np.array([metrics.aggregate_iqm(x[..., step]) for step in range(x.shape[-1])]))


def plot_iqm_curves(
    timesteps: np.ndarray,
    curves: Mapping[str, np.ndarray],
    colors: Mapping[str, Any],
    title: str,
    path: str,
) -> None:
    """Sample efficiency: each algorithm's IQM return over its runs at every evaluation, with the band of
    its 95 % stratified bootstrap interval (none with one run)."""
    points, intervals = iqm_curves(curves)
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for algo in curves:
        axes.plot(timesteps, points[algo], color=colors[algo], label=f"{algo} ({len(curves[algo])} seeds)")
        if not np.isnan(intervals[algo]).any():
            axes.fill_between(timesteps, intervals[algo][0], intervals[algo][1], color=colors[algo], alpha=0.25, linewidth=0)
    axes.set_title(f"{title}: IQM over seeds, 95 % stratified bootstrap CI")
    axes.set_xlabel("environment steps")
    axes.set_ylabel("return (deterministic evaluation)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.savefig(path, dpi=120)


def plot_performance_profiles(scores: Mapping[str, np.ndarray], colors: Mapping[str, Any], path: str) -> None:
    """Performance profiles of normalized scores [runs, tasks]: the fraction of runs scoring above τ,
    with 95 % stratified bootstrap bands (rliable's ``create_performance_profile`` and its plot)."""
    high = max(1.0, max(float(np.max(value)) for value in scores.values()))
    low = min(0.0, min(float(np.min(value)) for value in scores.values()))
    taus = np.linspace(low, high, 101)
    with _seeded():
        profiles, bands = rly.create_performance_profile(dict(scores), taus, reps=REPS, confidence_interval_size=CONFIDENCE)
    if not all(len(value) >= 2 for value in scores.values()):
        bands = None  # one run: no interval
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    plot_utils.plot_performance_profiles(
        profiles,
        taus,
        performance_profile_cis=bands,
        colors=dict(colors),
        xlabel="normalized score (τ)",
        ylabel="fraction of runs with score > τ",
        ax=axes,
        labelsize="medium",
        ticklabelsize="medium",
    )
    handles = [Line2D([0], [0], color=colors[algo]) for algo in scores]  # the plot's artists include the bands
    axes.legend(handles, [f"{algo} ({len(scores[algo])} runs)" for algo in scores], loc="upper right")
    figure.savefig(path, dpi=120)
