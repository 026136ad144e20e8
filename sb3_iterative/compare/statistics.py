"""Few-seed statistics as the field reads them (Agarwal et al., NeurIPS 2021), with numpy.

Every interval is the stratified bootstrap of rliable (the paper's library) computed here: each replication
resamples, with replacement, the runs of each task (and of each evaluation, for a curve) independently, and
the interval is the percentile interval of the statistic over the replications. The indices come from
numpy's ``RandomState`` with a fixed seed, drawn in rliable's order, so that the intervals are rliable's
(``get_interval_estimates`` and ``create_performance_profile`` with their defaults) to float rounding and a
report is reproducible: the legacy generator's stream is frozen across numpy releases. (rliable itself
needs arch < 8, which does not import with pandas 3.)

- Per environment: the interquartile mean (IQM: the mean of the middle 50 % of runs) and the mean of
  the final return and of the AUC, in units of return.
- Across environments, on normalized scores (:mod:`sb3_iterative.compare.references`): aggregate
  IQM and mean over all runs, median of the tasks' mean scores, and optimality gap (the mean
  shortfall below a normalized score of 1), the
  probability that an algorithm's run beats the baseline's on a task drawn at random, P(X > Y),
  and performance profiles (the fraction of runs above each normalized score τ).
- Sample efficiency: the IQM of each evaluation step's return over runs, with its interval.

A statistic takes its scores with a leading axis of replications, [replications, runs, tasks, ...], and
returns one value per replication (or a row of them), so that all replications are computed at once.
An interval needs at least 2 runs of every algorithm it involves; with one it is NaN ("unavailable"),
never a bootstrap of a single number.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

CONFIDENCE = 0.95
REPS = 2000  # bootstrap replications
SEED = 0  # the bootstrap's random state

Statistic = Callable[..., np.ndarray]


def _trimmed_mean(values: np.ndarray) -> np.ndarray:
    """The mean of the middle 50 % of the last axis: int(n / 4) values cut on each side, and partitioned and summed
    in the order of scipy's ``trim_mean(values, 0.25)``, which rliable's IQM is."""
    n = values.shape[-1]
    cut = int(0.25 * n)
    return np.partition(values, (cut, n - cut - 1), axis=-1)[..., cut : n - cut].mean(axis=-1)


def iqm(scores: np.ndarray) -> np.ndarray:
    """The interquartile mean over all runs and tasks: [replications, runs, tasks] → [replications]."""
    return _trimmed_mean(scores.reshape(len(scores), -1))


def mean(scores: np.ndarray) -> np.ndarray:
    """The mean over tasks of each task's mean over runs: [replications, runs, tasks] → [replications]."""
    return scores.mean(axis=1).mean(axis=1)


def median(scores: np.ndarray) -> np.ndarray:
    """The median over tasks of each task's mean over runs: [replications, runs, tasks] → [replications]."""
    return np.median(scores.mean(axis=1), axis=1)


def optimality_gap(scores: np.ndarray) -> np.ndarray:
    """The mean shortfall below a normalized score of 1 over all runs and tasks: [replications] (lower is better)."""
    return 1 - np.minimum(scores, 1).reshape(len(scores), -1).mean(axis=1)


def improvement(scores_x: np.ndarray, scores_y: np.ndarray) -> np.ndarray:
    """P(X > Y): per task, the fraction of pairs of runs (x, y) with x > y, ties counting half (the Mann-Whitney
    U statistic over nx·ny), averaged over tasks: [replications, nx, tasks], [replications, ny, tasks] → [replications]."""
    x, y = scores_x[:, :, None, :], scores_y[:, None, :, :]
    wins = (x > y).sum(axis=(1, 2)) + 0.5 * (x == y).sum(axis=(1, 2))
    return (wins / (scores_x.shape[1] * scores_y.shape[1])).mean(axis=1)


def score_distribution(scores: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """The fraction of runs (all tasks) scoring above each τ: [replications, runs, tasks] → [replications, taus]."""
    flat = scores.reshape(len(scores), -1)
    return (flat[:, :, None] > np.asarray(taus)[None, None, :]).mean(axis=1)


AGGREGATES: dict[str, Statistic] = {"IQM": iqm, "mean": mean, "median": median, "optimality gap": optimality_gap}
LOCATIONS: dict[str, Statistic] = {"IQM": iqm, "mean": mean}
IMPROVEMENT = "P(X > Y)"


def stratified_bootstrap(arrays: Sequence[np.ndarray], statistic: Statistic, rng: np.random.RandomState) -> np.ndarray:
    """``statistic`` over ``REPS`` replications of ``arrays`` (each [runs, tasks, ...]): [REPS, ...].

    Each replication draws, for each array in turn, one run index per cell, so that every task (and
    evaluation) keeps its own runs: rliable's ``StratifiedBootstrap`` (one array) and
    ``StratifiedIndependentBootstrap`` (several, resampled independently), draw for draw.
    """
    replications = [[np.take_along_axis(a, rng.choice(len(a), a.shape), axis=0) for a in arrays] for _ in range(REPS)]
    return statistic(*(np.stack(resampled) for resampled in zip(*replications, strict=True)))


def percentile_interval(replications: np.ndarray) -> np.ndarray:
    """The ``CONFIDENCE`` percentile interval of each statistic over the replications: [2, ...]."""
    alpha = (1.0 - CONFIDENCE) / 2
    return np.percentile(replications, [100 * alpha, 100 * (1.0 - alpha)], axis=0)


def interval_estimates(
    scores: Mapping[str, np.ndarray] | Mapping[str, tuple[np.ndarray, np.ndarray]], statistic: Statistic
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Point estimates of ``statistic`` and their stratified bootstrap intervals [2, ...] per key.

    :param scores: per key, an array [runs, tasks, ...] (or a pair of them, for two-sample statistics)
    :param statistic: of arrays with a leading axis of replications (see the module's docstring)
    :return: points and intervals; an interval is NaN where a key has fewer than 2 runs
    """
    points: dict[str, np.ndarray] = {}
    intervals: dict[str, np.ndarray] = {}
    for key, value in scores.items():
        arrays = value if isinstance(value, tuple) else (value,)
        points[key] = np.asarray(statistic(*(array[None] for array in arrays))[0], dtype=float)
        if min(len(array) for array in arrays) < 2:
            intervals[key] = np.full((2, *points[key].shape), np.nan)
            continue
        # a fresh generator for each key, as the report has always seeded rliable's bootstrap
        intervals[key] = percentile_interval(stratified_bootstrap(arrays, statistic, np.random.RandomState(SEED)))
    return points, intervals


def named_estimates(
    scores: Mapping[str, np.ndarray] | Mapping[str, tuple[np.ndarray, np.ndarray]],
    functions: Mapping[str, Statistic],
) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Each statistic of ``functions`` on each key's scores, with its interval: {key: {name: (point, low, high)}}."""
    names = list(functions)
    points, intervals = interval_estimates(scores, lambda *x: np.stack([functions[name](*x) for name in names], axis=-1))
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
    estimates = named_estimates(pairs, {IMPROVEMENT: improvement})
    return {algo: numbers[IMPROVEMENT] for algo, numbers in estimates.items()}


def iqm_curves(curves: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The IQM over runs at each evaluation of returns [runs, tasks, evaluations], with its intervals [2, evaluations]."""
    return interval_estimates(curves, lambda x: _trimmed_mean(np.moveaxis(x, -1, 1).reshape(len(x), x.shape[-1], -1)))


def performance_profiles(
    scores: Mapping[str, np.ndarray], taus: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The fraction of runs of normalized scores [runs, tasks] above each τ, with its bands [2, taus] per key.

    One generator serves the keys in turn, as in rliable's ``create_performance_profile`` seeded once; a key
    with one run has its profile and NaN bands.
    """
    rng = np.random.RandomState(SEED)
    points, bands = {}, {}
    for key, value in scores.items():
        points[key] = score_distribution(value[None], taus)[0]
        replications = stratified_bootstrap((value,), lambda x: score_distribution(x, taus), rng)
        bands[key] = percentile_interval(replications) if len(value) >= 2 else np.full((2, len(taus)), np.nan)
    return points, bands


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
    with 95 % stratified bootstrap bands (none for an algorithm with one run), drawn as rliable draws them."""
    high = max(1.0, max(float(np.max(value)) for value in scores.values()))
    low = min(0.0, min(float(np.min(value)) for value in scores.values()))
    taus = np.linspace(low, high, 101)
    profiles, bands = performance_profiles(scores, taus)
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.subplots()
    for algo in scores:
        axes.plot(taus, profiles[algo], color=colors[algo], linewidth=2, label=f"{algo} ({len(scores[algo])} runs)")
        if not np.isnan(bands[algo]).any():
            axes.fill_between(taus, bands[algo][0], bands[algo][1], color=colors[algo], alpha=0.15, linewidth=0)
    axes.set_xlabel("normalized score (τ)")
    axes.set_ylabel("fraction of runs with score > τ")
    axes.set_yticks([0.0, 0.25, 0.5, 0.75, 1.0])
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(alpha=0.2)
    axes.legend(loc="upper right")
    figure.savefig(path, dpi=120)
