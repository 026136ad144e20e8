"""The report of a comparison: learning curves, a table per environment, and the raw numbers.

It reads any rl-zoo3 log folder (``LOGDIR/ALGO/ENV_N/``), whoever made its runs: the sweep
(local workers or Ray), or ``python -m sb3_iterative.train`` by hand. A run counts once it has
finished (rl-zoo3 saved its final model ``ENV.zip``); its seed comes from ``ENV/args.yml``.

For each environment, the runs are compared at the evaluations every one of them made (all
the same when one sweep made them):

- ``ENV.png``: the mean ± std over seeds of each algorithm's evaluation return (the mean over
  the evaluation's episodes) against environment steps, as the paper's Figure 5;
- ``report.md``: per algorithm, the final return (at the last evaluation) and the area under the
  curve (trapezoids over the evaluations, divided by the steps they span: the average return
  over training, in units of return), both mean ± std over seeds; environment steps per second;
  and the differences of final return and of AUC to SAC, each with a 95 % confidence interval
  from Welch's t-test (unequal variances; needs at least 2 seeds each);
- ``ENV_iqm.png`` and a second table: the interquartile mean (IQM) and the mean over seeds of the final
  return and of the AUC, and the IQM at every evaluation, each with a 95 % stratified bootstrap
  interval as rliable computes them (:mod:`sb3_iterative.compare.statistics`);
- across the environments, on normalized scores (:mod:`sb3_iterative.compare.references`): aggregate
  IQM, mean, median and optimality gap, the probability of improvement on SAC, and performance
  profiles (``performance_profiles.png``);
- ``runs.csv`` (one row per run), ``curves.csv`` (one row per run and evaluation),
  ``summary.csv`` (the first table's numbers) and ``statistics.csv`` (every bootstrap estimate).

Environment steps per second are measured from the run's training monitor file(s)
(``*.monitor.csv``): the steps of its completed episodes divided by the time from the monitor's
start (the environment's creation) to the end of the last of them. They count the whole of
training, evaluations included, but not the process's start-up; runs that share a machine slow
each other down.
"""

import csv
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter
from rl_zoo3.utils import EnvironmentName

from sb3_iterative.compare import statistics
from sb3_iterative.compare.layout import MARKER
from sb3_iterative.compare.references import normalize
from sb3_iterative.extras import import_extra

integrate = import_extra("scipy.integrate", "report", "The comparison report (--report)")
stats = import_extra("scipy.stats", "report", "The comparison report (--report)")

BASELINE = "sac"
# Algorithms in this order first (the baseline, then ours; TQC, then ours on it; CrossQ, then ours on it), the
# others after, by name.
ORDER = (
    BASELINE, "flow_sac", "iterative_sac", "iterative_sac_dt", "iterative_sac_ws", "iterative_sac_mb", "direct_sac_mb",
    "tqc", "iterative_tqc", "crossq", "iterative_crossq",
)  # fmt: skip
CONFIDENCE = statistics.CONFIDENCE  # of Welch's intervals and the bootstrap's alike
# The base each of the package's algorithms is built on: the comparison a user of that base asks for first
OWN_BASE = {
    "flow_sac": "sac", "iterative_sac": "sac", "iterative_sac_dt": "sac", "iterative_sac_ws": "sac",
    "iterative_sac_mb": "sac", "direct_sac_mb": "sac", "iterative_tqc": "tqc", "iterative_crossq": "crossq",
}  # fmt: skip


@dataclass
class RunLog:
    """What the report uses of one finished run."""

    algo: str
    env: str
    seed: int
    folder: Path
    timesteps: np.ndarray  # the evaluation steps
    returns: np.ndarray  # mean return over each evaluation's episodes
    eval_episodes: int
    steps_per_second: float
    wall_time: float  # seconds, recorded by the sweep (NaN for runs it did not make)


class _ArgsLoader(yaml.SafeLoader):
    """rl-zoo3's ``args.yml`` is an OrderedDict dumped with Python tags: read it without running code."""


def _python_object(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        items = loader.construct_sequence(node, deep=True)
        return dict(items[0]) if suffix == "object/apply:collections.OrderedDict" else items
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return loader.construct_scalar(node)


_ArgsLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_object)


def read_runs(log_folder: str | Path) -> tuple[list[RunLog], list[Path]]:
    """The finished runs in an rl-zoo3 log folder, and the folders of runs that have not finished."""
    runs, unfinished = [], []
    for evaluations in sorted(Path(log_folder).glob("[!.]*/*/evaluations.npz")):
        folder = evaluations.parent
        args_files = list(folder.glob("*/args.yml"))
        if len(args_files) != 1:
            unfinished.append(folder)
            continue
        args = yaml.load(args_files[0].read_text(), Loader=_ArgsLoader)
        if not (folder / f"{EnvironmentName(args['env'])}.zip").is_file():
            unfinished.append(folder)
            continue
        with np.load(evaluations) as logged:
            timesteps, results = logged["timesteps"], logged["results"]
        marker = folder / MARKER
        wall_time = json.loads(marker.read_text())["wall_time_s"] if marker.is_file() else math.nan
        runs.append(
            RunLog(
                args["algo"], args["env"], int(args["seed"]), folder, timesteps, results.mean(axis=1),
                results.shape[1], _steps_per_second(folder), wall_time,
            )
        )  # fmt: skip
    return runs, unfinished


def runs_from_csv(report_folder: str | Path) -> list[RunLog]:
    """The runs of an earlier report, from its ``runs.csv`` and ``curves.csv`` (when the logs are gone)."""
    folder = Path(report_folder)
    with open(folder / "curves.csv") as file:
        curves = list(csv.DictReader(file))
    runs = []
    with open(folder / "runs.csv") as file:
        for row in csv.DictReader(file):
            key = (row["env"], row["algo"], row["seed"])
            points = [(int(c["timestep"]), float(c["return"])) for c in curves if (c["env"], c["algo"], c["seed"]) == key]
            timesteps, returns = (np.array(values) for values in zip(*sorted(points), strict=True))
            runs.append(
                RunLog(
                    row["algo"], row["env"], int(row["seed"]), Path(row["folder"]), timesteps, returns,
                    int(row["eval_episodes"]), float(row["steps_per_second"]), float(row["wall_time_s"]),
                )
            )  # fmt: skip
    return runs


def _steps_per_second(folder: Path) -> float:
    steps, seconds = 0, 0.0
    for monitor in folder.glob("*.monitor.csv"):
        with open(monitor) as lines:
            next(lines)  # the JSON header: t_start, env_id
            for episode in csv.DictReader(lines):
                steps += int(episode["l"])
                seconds = max(seconds, float(episode["t"]))
    return steps / seconds if seconds > 0 else math.nan


@dataclass
class Row:
    """One algorithm on one environment, over its seeds."""

    env: str
    algo: str
    runs: list[RunLog]
    timesteps: np.ndarray  # the evaluations compared
    curves: np.ndarray  # [seeds, evaluations]

    @property
    def final(self) -> np.ndarray:
        return self.curves[:, -1]

    @property
    def auc(self) -> np.ndarray:
        """Area under each seed's curve divided by the steps it spans: its average return over training."""
        if len(self.timesteps) == 1:
            return self.curves[:, 0]
        return integrate.trapezoid(self.curves, self.timesteps, axis=1) / (self.timesteps[-1] - self.timesteps[0])

    @property
    def steps_per_second(self) -> np.ndarray:
        return np.array([run.steps_per_second for run in self.runs])


def compare(runs: Sequence[RunLog]) -> tuple[dict[str, list[Row]], list[str]]:
    """Rows per environment, at the evaluations all its runs made; notes where runs were cut to them."""
    tables, notes = {}, []
    for env in sorted({run.env for run in runs}):
        env_runs = [run for run in runs if run.env == env]
        common = sorted(set.intersection(*(set(run.timesteps.tolist()) for run in env_runs)))
        if not common:
            notes.append(f"{env}: its runs share no evaluation step, not compared")
            continue
        if any(len(run.timesteps) != len(common) for run in env_runs):
            notes.append(
                f"{env}: runs with different evaluation steps, compared at the {len(common)} they share "
                f"(up to step {common[-1]})"
            )
        algos = sorted({run.algo for run in env_runs}, key=_order)
        rows = []
        for algo in algos:
            algo_runs = sorted((run for run in env_runs if run.algo == algo), key=lambda run: run.seed)
            curves = np.array([run.returns[np.isin(run.timesteps, common)] for run in algo_runs])
            rows.append(Row(env, algo, algo_runs, np.array(common), curves))
        tables[env] = rows
    return tables, notes


def _order(algo: str) -> tuple[int, str]:
    return (ORDER.index(algo) if algo in ORDER else len(ORDER), algo)


def welch_interval(values: np.ndarray, baseline: np.ndarray) -> tuple[float, float, float, float]:
    """Difference of means (values − baseline), its confidence interval and p-value by Welch's t-test;
    NaN for the last three with fewer than 2 seeds on either side."""
    difference = float(values.mean() - baseline.mean())
    if len(values) < 2 or len(baseline) < 2:
        return difference, math.nan, math.nan, math.nan
    with warnings.catch_warnings():  # identical seeds: scipy warns, and the interval is the point
        warnings.simplefilter("ignore", RuntimeWarning)
        test = stats.ttest_ind(values, baseline, equal_var=False)
        low, high = test.confidence_interval(CONFIDENCE)
    return difference, float(low), float(high), float(test.pvalue)


def plot(rows: Sequence[Row], colors: dict[str, Any], path: Path) -> None:
    """The paper's Figure 5 for one environment: mean ± std over seeds of each algorithm's return."""
    figure = Figure(figsize=(6, 4), layout="constrained")
    axes = figure.subplots()
    for row in rows:
        color = colors[row.algo]
        mean, std = row.curves.mean(axis=0), row.curves.std(axis=0)
        axes.plot(row.timesteps, mean, color=color, label=f"{row.algo} ({len(row.runs)} seeds)")
        axes.fill_between(row.timesteps, mean - std, mean + std, color=color, alpha=0.25, linewidth=0)
    axes.set_title(rows[0].env)
    axes.set_xlabel("environment steps")
    axes.set_ylabel("return (deterministic evaluation)")
    axes.xaxis.set_major_formatter(EngFormatter(sep=""))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.savefig(path, dpi=120)


def summarize(row: Row, baseline: Row | None) -> dict[str, Any]:
    """The table's numbers for one algorithm on one environment (a row of ``summary.csv``)."""
    difference = low = high = p_value = auc_difference = auc_low = auc_high = auc_p_value = math.nan
    if baseline is not None and row is not baseline:
        difference, low, high, p_value = welch_interval(row.final, baseline.final)
        auc_difference, auc_low, auc_high, auc_p_value = welch_interval(row.auc, baseline.auc)
    return {
        "env": row.env, "algo": row.algo, "seeds": len(row.runs), "final_step": int(row.timesteps[-1]),
        "final_return_mean": row.final.mean(), "final_return_std": row.final.std(),
        "auc_mean": row.auc.mean(), "auc_std": row.auc.std(),
        "steps_per_second_mean": row.steps_per_second.mean(), "steps_per_second_std": row.steps_per_second.std(),
        "delta_vs_sac": difference, "ci_low": low, "ci_high": high, "welch_p_value": p_value,
        "auc_delta_vs_sac": auc_difference, "auc_ci_low": auc_low, "auc_ci_high": auc_high,
        "auc_welch_p_value": auc_p_value,
    }  # fmt: skip


HEADER = f"""\
Final return: the mean return of the last evaluation's deterministic episodes. AUC: the area under the
evaluation curve divided by the steps it spans (the average return over training). Both are mean ± std
over seeds. Env steps/s: the training episodes' steps per second of wall time, from the monitor files
(evaluations included; runs sharing a machine slow each other down). Δ vs {BASELINE}: the difference of
the mean final return (and of the mean AUC) to {BASELINE}'s, with the {CONFIDENCE:.0%} confidence interval
of Welch's t-test (unequal variances) over seeds.
"""


STATISTICS_HEADER = f"""\
IQM: the interquartile mean over seeds (the mean of the middle 50 % of runs; with fewer than 4 seeds
it interpolates, and it is close to the mean). Intervals in this table and below: {CONFIDENCE:.0%}
stratified bootstrap (rliable's, {statistics.REPS} replications, runs resampled within each environment);
"unavailable" with one seed.
"""


def _estimate(point: float, low: float, high: float, digits: int = 1) -> str:
    if math.isnan(low):
        return f"{point:.{digits}f} (CI unavailable: 1 seed)"
    return f"{point:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _rliable_section(env: str, rows: Sequence[Row], image: str) -> tuple[list[str], list[dict[str, Any]]]:
    """IQM and mean of the final return and of the AUC per algorithm, with intervals, and the IQM curves' figure."""
    finals = statistics.location({row.algo: row.final[:, None] for row in rows})
    aucs = statistics.location({row.algo: row.auc[:, None] for row in rows})
    lines = [
        f"![{env}, IQM]({image})",
        "",
        "| algorithm | seeds | IQM final return | mean final return | IQM AUC | mean AUC |",
        "|---|---|---|---|---|---|",
    ]
    records = []
    for row in rows:
        final, auc = finals[row.algo], aucs[row.algo]
        lines.append(
            f"| {row.algo} | {len(row.runs)} | {_estimate(*final['IQM'])} | {_estimate(*final['mean'])} "
            f"| {_estimate(*auc['IQM'])} | {_estimate(*auc['mean'])} |"
        )
        for measure, numbers in (("final return", final), ("AUC", auc)):
            records += [_record(env, row.algo, len(row.runs), f"{name} {measure}", *numbers[name]) for name in numbers]
    return [*lines, ""], records


def _record(scope: str, algo: str, seeds: int, statistic: str, point: float, low: float, high: float) -> dict[str, Any]:
    return {
        "scope": scope,
        "algo": algo,
        "seeds": seeds,
        "statistic": statistic,
        "point": point,
        "ci_low": low,
        "ci_high": high,
    }


def _aggregate_section(
    tables: dict[str, list[Row]], colors: dict[str, Any], out: Path
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Across environments on normalized final returns: aggregates, the probability of improvement on
    the baseline and performance profiles. Needs a reference for every environment, and uses the
    algorithms run on all of them, with as many seeds as each has on every one (its first seeds)."""
    notes: list[str] = []
    envs = list(tables)
    algos = [algo for algo in sorted({row.algo for rows in tables.values() for row in rows}, key=_order)
             if all(any(row.algo == algo for row in rows) for rows in tables.values())]  # fmt: skip
    left_out = sorted({row.algo for rows in tables.values() for row in rows} - set(algos))
    if left_out:
        notes.append(f"across environments: {', '.join(left_out)} left out (not run on every environment)")
    try:
        scores = {}
        for algo in algos:
            rows = [next(row for row in tables[env] if row.algo == algo) for env in envs]
            seeds = min(len(row.runs) for row in rows)
            if any(len(row.runs) != seeds for row in rows):
                notes.append(f"across environments: {algo} with its first {seeds} seed(s) on every environment")
            scores[algo] = np.stack([normalize(row.env, row.final[:seeds]) for row in rows], axis=1)
    except KeyError as error:
        notes.append(f"no statistics across environments: {error.args[0]}")
        return [], [], notes
    if not scores:
        return [], [], notes
    aggregates = statistics.aggregates(scores)
    names = list(statistics.AGGREGATES)
    lines = [
        "## Across environments",
        "",
        f"Normalized final returns over {', '.join(envs)}: (return − random) / (reference − random), with a "
        "uniformly random policy at 0 and each task's reference at 1 (`sb3_iterative/compare/references.py` "
        "says where each comes from). IQM and mean over all runs of all environments; median of the "
        "environments' mean scores; optimality gap: the mean shortfall below 1 (lower is better).",
        "",
        f"| algorithm | runs per environment | {' | '.join(names)} |",
        f"|---|---|{'---|' * len(names)}",
    ]
    records = []
    for algo, numbers in aggregates.items():
        lines.append(f"| {algo} | {len(scores[algo])} | {' | '.join(_estimate(*numbers[name], 3) for name in names)} |")
        records += [
            _record("all", algo, len(scores[algo]), f"{name} normalized final return", *numbers[name]) for name in names
        ]
    if BASELINE in scores and len(scores) > 1:
        improvement = statistics.probability_of_improvement(scores, BASELINE)
        lines += [
            "",
            f"Probability of improvement on {BASELINE}, P(X > Y): the chance that a run of the algorithm beats a run "
            f"of {BASELINE} on an environment drawn at random (0.5: neither is better).",
            "",
            "| algorithm | P(X > " + BASELINE + ") |",
            "|---|---|",
        ]
        for algo, probability in improvement.items():
            lines.append(f"| {algo} | {_estimate(*probability, 2)} |")
            records.append(_record("all", algo, len(scores[algo]), f"P(X > {BASELINE})", *probability))
    # against the other bases (against SAC: the table above)
    pairs = [(algo, base) for algo in scores if (base := OWN_BASE.get(algo, BASELINE)) != BASELINE and base in scores]
    if pairs:
        lines += [
            "",
            "Probability of improvement of each algorithm on the base it is built on, P(X > base), as above (each pair "
            "bootstrapped on its own).",
            "",
            "| algorithm | base | P(X > base) |",
            "|---|---|---|",
        ]
        for algo, base in pairs:
            (probability,) = statistics.probability_of_improvement({algo: scores[algo], base: scores[base]}, base).values()
            lines.append(f"| {algo} | {base} | {_estimate(*probability, 2)} |")
            records.append(_record("all", algo, len(scores[algo]), f"P(X > {base})", *probability))
    statistics.plot_performance_profiles(scores, colors, str(out / "performance_profiles.png"))
    lines += ["", "![performance profiles](performance_profiles.png)", ""]
    return lines, records, notes


def _section(env: str, rows: Sequence[Row], numbers: Sequence[dict[str, Any]], image: str) -> list[str]:
    """The report's part for one environment: its figure and table."""
    first = rows[0]
    lines = [
        f"## {env}",
        "",
        f"![{env}]({image})",
        "",
        f"Compared at {len(first.timesteps)} evaluations up to step {first.timesteps[-1]} "
        f"({first.runs[0].eval_episodes} episodes each).",
        "",
        f"| algorithm | seeds | final return | AUC | env steps/s | Δ final return vs {BASELINE} "
        f"({CONFIDENCE:.0%} CI, Welch's t) | Δ AUC vs {BASELINE} ({CONFIDENCE:.0%} CI, Welch's t) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, number in zip(rows, numbers, strict=True):
        lines.append(
            f"| {row.algo} | {len(row.runs)} | {_mean_std(row.final)} | {_mean_std(row.auc)} "
            f"| {_mean_std(row.steps_per_second, 0)} | {_delta(number, '')} | {_delta(number, 'auc_')} |"
        )
    if not any(row.algo == BASELINE for row in rows):
        lines += ["", f"No {BASELINE} runs on {env}: no difference computed."]
    return [*lines, ""]


def own_base_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Each algorithm against the base it is built on (:data:`OWN_BASE`), where both ran: the differences of the mean
    final return and of the mean AUC with Welch's interval and p-value (a row of ``own_base.csv``)."""
    by_algo = {row.algo: row for row in rows}
    numbers = []
    for row in rows:
        base = by_algo.get(OWN_BASE.get(row.algo, ""))
        if base is None:
            continue
        difference, low, high, p_value = welch_interval(row.final, base.final)
        auc_difference, auc_low, auc_high, auc_p_value = welch_interval(row.auc, base.auc)
        numbers.append({
            "env": row.env, "algo": row.algo, "base": base.algo, "seeds": len(row.runs), "base_seeds": len(base.runs),
            "delta_final_return": difference, "ci_low": low, "ci_high": high, "welch_p_value": p_value,
            "delta_auc": auc_difference, "auc_ci_low": auc_low, "auc_ci_high": auc_high, "auc_welch_p_value": auc_p_value,
        })  # fmt: skip
    return numbers


def _own_base_section(numbers: Sequence[dict[str, Any]]) -> list[str]:
    """The table of each algorithm against its own base on one environment."""
    if not numbers:
        return []
    lines = [
        f"Each algorithm against the base it is built on (Welch's t, {CONFIDENCE:.0%} CI; p two-sided):",
        "",
        "| algorithm | base | seeds | Δ final return | p | Δ AUC | p |",
        "|---|---|---|---|---|---|---|",
    ]
    for number in numbers:
        lines.append(
            f"| {number['algo']} | {number['base']} | {number['seeds']} / {number['base_seeds']} "
            f"| {_interval(number['delta_final_return'], number['ci_low'], number['ci_high'])} "
            f"| {number['welch_p_value']:.2f} "
            f"| {_interval(number['delta_auc'], number['auc_ci_low'], number['auc_ci_high'])} "
            f"| {number['auc_welch_p_value']:.2f} |"
        )
    return [*lines, ""]


def _interval(point: float, low: float, high: float) -> str:
    if math.isnan(low):
        return f"{point:+.1f} (no CI: needs ≥ 2 seeds each)"
    return f"{point:+.1f} [{low:+.1f}, {high:+.1f}]"


def _delta(number: dict[str, Any], prefix: str) -> str:
    """A difference to the baseline with its interval (``prefix`` "auc_" for the AUC's)."""
    if math.isnan(number[f"{prefix}delta_vs_sac"]):
        return "—"
    if math.isnan(number[f"{prefix}ci_low"]):
        return f"{number[f'{prefix}delta_vs_sac']:+.1f} (no CI: needs ≥ 2 seeds each)"
    return f"{number[f'{prefix}delta_vs_sac']:+.1f} [{number[f'{prefix}ci_low']:+.1f}, {number[f'{prefix}ci_high']:+.1f}]"


def _mean_std(values: np.ndarray, digits: int = 1) -> str:
    return f"{values.mean():.{digits}f} ± {values.std():.{digits}f}"


def _run_rows(row: Row) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows of ``runs.csv`` and ``curves.csv`` for one algorithm on one environment."""
    runs, curves = [], []
    for run, curve, final, auc in zip(row.runs, row.curves, row.final, row.auc, strict=True):
        runs.append({
            "env": row.env, "algo": row.algo, "seed": run.seed, "folder": str(run.folder),
            "final_return": final, "auc": auc, "steps_per_second": run.steps_per_second,
            "wall_time_s": run.wall_time, "evaluations": len(curve), "eval_episodes": run.eval_episodes,
        })  # fmt: skip
        curves += [
            {"env": row.env, "algo": row.algo, "seed": run.seed, "timestep": int(step), "return": value}
            for step, value in zip(row.timesteps, curve, strict=True)
        ]
    return runs, curves


def write_report(
    log_folder: str | Path | Sequence[str | Path], out: str | Path, envs: Sequence[str] = (), algos: Sequence[str] = ()
) -> Path:
    """Write the report of the finished runs in ``log_folder`` (optionally only some environments
    and algorithms) into ``out``; return the path of ``report.md``. ``log_folder`` may be several
    folders, and each may also be an earlier report's folder: its ``runs.csv`` and ``curves.csv``
    then stand in for the logs. Raises FileNotFoundError when there is no finished run to report,
    ValueError when two folders hold the same (algorithm, environment, seed)."""
    folders = [Path(log_folder)] if isinstance(log_folder, (str, Path)) else [Path(folder) for folder in log_folder]
    runs, unfinished, csv_folders = [], [], []
    for folder in folders:
        folder_runs, folder_unfinished = read_runs(folder)
        if not folder_runs and not folder_unfinished and (folder / "runs.csv").is_file():
            folder_runs = runs_from_csv(folder)
            csv_folders.append(folder)
        runs += folder_runs
        unfinished += folder_unfinished
    keys = [(run.algo, run.env, run.seed) for run in runs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"the same run in two folders: {', '.join(f'{a} {e} seed {s}' for a, e, s in duplicates)}")
    log_folder = ", ".join(str(folder) for folder in folders)
    runs = [run for run in runs if (not envs or run.env in envs) and (not algos or run.algo in algos)]
    if not runs:
        chosen = f" for {' '.join([*envs, *algos])}" if envs or algos else ""
        raise FileNotFoundError(f"no finished run in {log_folder}{chosen}")
    tables, notes = compare(runs)
    for folder in csv_folders:
        notes.append(f"runs read from the runs.csv and curves.csv of an earlier report in {folder} (no logs there)")
    if unfinished:
        notes.append(f"{len(unfinished)} unfinished run(s) left out: {', '.join(map(str, unfinished))}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shown = sorted({row.algo for rows in tables.values() for row in rows}, key=_order)
    colors = {algo: colormaps["tab10"](i % 10) for i, algo in enumerate(shown)}  # the same in every figure

    generated = datetime.now().astimezone().isoformat(timespec="seconds")
    lines = ["# Comparison", "", f"Runs in `{log_folder}`, report written {generated}.", "", HEADER, STATISTICS_HEADER]
    summary, per_run, curves, estimates, own_bases = [], [], [], [], []
    for env, rows in tables.items():
        image = f"{EnvironmentName(env)}.png"
        plot(rows, colors, out / image)
        baseline = next((row for row in rows if row.algo == BASELINE), None)
        numbers = [summarize(row, baseline) for row in rows]
        lines += _section(env, rows, numbers, image)
        own_base = own_base_rows(rows)
        lines += _own_base_section(own_base)
        own_bases += own_base
        iqm_image = f"{EnvironmentName(env)}_iqm.png"
        statistics.plot_iqm_curves(
            rows[0].timesteps, {row.algo: row.curves[:, None, :] for row in rows}, colors, env, str(out / iqm_image)
        )
        rliable_lines, records = _rliable_section(env, rows, iqm_image)
        lines += rliable_lines
        estimates += records
        summary += numbers
        for row in rows:
            run_rows, curve_rows = _run_rows(row)
            per_run += run_rows
            curves += curve_rows
    aggregate_lines, records, aggregate_notes = _aggregate_section(tables, colors, out)
    lines += aggregate_lines
    estimates += records
    notes += aggregate_notes
    if notes:
        lines += ["## Notes", "", *(f"- {note}" for note in notes), ""]
    (out / "report.md").write_text("\n".join(lines))
    _write_csv(out / "statistics.csv", estimates)
    _write_csv(out / "summary.csv", summary)
    if own_bases:
        _write_csv(out / "own_base.csv", own_bases)
    _write_csv(out / "runs.csv", per_run)
    _write_csv(out / "curves.csv", curves)
    return out / "report.md"


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
