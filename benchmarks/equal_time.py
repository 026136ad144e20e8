"""Returns at equal training time: an algorithm against its base when both have trained for as long as the base needs
for its budget, from a comparison report's curves and the two algorithms' ``learn()`` speeds (env steps/s).

The sweeps' own clocks depend on what else shared the machine; the speeds come instead from
``benchmarks/speed.py``, which measures the configurations side by side in one run (env steps/s of ``learn()`` once
learning has started). The first L steps (``--learning-starts``) are random actions without training and cost both
alike; of the base's time for its n steps, (n − L) / v_base is training, by when the algorithm (slower, here) has made
L + (n − L) · v_algo / v_base steps. Its return there is read off each seed's evaluation curve by linear interpolation
between evaluations.

    python benchmarks/equal_time.py benchmarks/report_crossq_8 --pair iterative_crossq=crossq --learning-starts 5000 \\
        --speed HalfCheetah-v5:crossq=41.2 HalfCheetah-v5:iterative_crossq=19.6 \\
                Hopper-v5:crossq=43.0 Hopper-v5:iterative_crossq=20.1
"""

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats


def read_curves(report: Path) -> dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]]:
    """(env, algo) -> seed -> (timesteps, returns), from a report's ``curves.csv``."""
    points: dict[tuple[str, str, int], list[tuple[int, float]]] = defaultdict(list)
    with open(report / "curves.csv") as file:
        for row in csv.DictReader(file):
            points[row["env"], row["algo"], int(row["seed"])].append((int(row["timestep"]), float(row["return"])))
    curves: dict[tuple[str, str], dict[int, tuple[np.ndarray, np.ndarray]]] = defaultdict(dict)
    for (env, algo, seed), values in points.items():
        steps, returns = np.array(sorted(values)).T
        curves[env, algo][seed] = (steps, returns)
    return curves


def return_at(curve: tuple[np.ndarray, np.ndarray], step: float) -> float:
    """The evaluation return at ``step``, linear between evaluations (NaN before the first or past the last)."""
    steps, returns = curve
    if step < steps[0] or step > steps[-1]:
        return float("nan")
    return float(np.interp(step, steps, returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="a report folder of python -m sb3_iterative.compare --report")
    parser.add_argument("--pair", nargs="+", required=True, metavar="ALGO=BASE", help="e.g. iterative_crossq=crossq")
    parser.add_argument(
        "--speed", nargs="+", required=True, metavar="ENV:ALGO=STEPS_PER_S", help="learn() env steps/s, from speed.py"
    )
    parser.add_argument("--learning-starts", type=int, default=0, help="the random steps before training, L (default: 0)")
    args = parser.parse_args()
    speeds = {}
    for item in args.speed:
        key, value = item.split("=")
        env, algo = key.split(":")
        speeds[env, algo] = float(value)
    curves = read_curves(args.report)
    print("| task | algorithm | base | base's training time for its budget | algorithm's steps by then "
          "| algorithm's return then | base's final return | Δ (Welch's t, 95 % CI) | p |")  # fmt: skip
    print("|---|---|---|---:|---:|---|---|---|---:|")
    for pair in args.pair:
        algo, base = pair.split("=")
        for env in sorted({env for env, _ in curves}):
            if (env, algo) not in curves or (env, base) not in curves:
                continue
            base_curves = curves[env, base]
            budget = min(steps[-1] for steps, _ in base_curves.values())
            seconds = (budget - args.learning_starts) / speeds[env, base]
            algo_steps = args.learning_starts + seconds * speeds[env, algo]
            at_time = np.array([return_at(curve, algo_steps) for curve in curves[env, algo].values()])
            finals = np.array([return_at(curve, budget) for curve in base_curves.values()])
            test = stats.ttest_ind(at_time, finals, equal_var=False)
            low, high = test.confidence_interval(0.95)
            print(
                f"| {env} | {algo} | {base} | {seconds / 60:.1f} min | {algo_steps:,.0f} "
                f"| {at_time.mean():.1f} ± {at_time.std():.1f} ({len(at_time)} seeds) "
                f"| {finals.mean():.1f} ± {finals.std():.1f} ({len(finals)} seeds) "
                f"| {at_time.mean() - finals.mean():+.1f} [{low:+.1f}, {high:+.1f}] | {test.pvalue:.2f} |"
            )


if __name__ == "__main__":
    main()
