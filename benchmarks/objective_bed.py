"""The test-time objective bed (paper Sec. 3.2, 4.2.5, Fig. 9): does a trained optimizer follow a changed J to
its optimum?

``train`` trains IterativeSAC agents on a MuJoCo task, one per option and seed (the default, a random λ_0,
gradient magnitudes, and the three levers together with the residual update), and saves them. ``measure``
loads them and, on 100 on-policy states, changes J at test time by a penalty at several strengths c
(``analysis.ChangedObjective``):

- ``energy``: −c·‖a‖² (the action energy, a in the policy's [−1, 1]^|A|);
- ``target``: −c·‖a − a*‖², pulling every action towards a fixed a* = (0.5, −0.5, 0.5, …), a cost whose
  optimum is not at the centre the optimizer starts from;

and reports, per option, penalty, strength and test-time variant (K, K + 5, K + 20 iterations; N = 10
samples; a random λ_0 at test time only): the amortization gap on the changed J (Adam from the optimizer's λ,
as ``analysis.amortization_gap``) and the distance ‖tanh µ − tanh µ*‖ to the changed J's optimum, averaged
over states and seeds. Also the return, the unchanged gap and the policy modes (10 runs of the optimizer per
state, ``analysis.policy_modes``: distinct modes at its default radius and the median distance between runs)
of each option.

    python benchmarks/objective_bed.py train --env HalfCheetah-v5 --seeds 1 2 3 --timesteps 12000 --logs logs/objective_bed
    python benchmarks/objective_bed.py measure --env HalfCheetah-v5 --seeds 1 2 3 --logs logs/objective_bed \
        --figures benchmarks/figures/objective_bed
"""

import argparse
import time
from datetime import date
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_iterative import IterativeSAC, analysis
from sb3_iterative.analysis.changed_objective import ObjectiveTerm

from speed import cpu_name  # benchmarks/speed.py, beside this script

# The options compared, as policy keywords on top of the paper's settings
OPTIONS = {
    "default": {},
    "random λ_0 (init_mu_std=1)": dict(init_mu_std=1.0),
    "gradient magnitude": dict(gradient_magnitude=True),
    "residual, random λ_0, gradient magnitude": dict(residual_update=True, init_mu_std=1.0, gradient_magnitude=True),
    # inputs that keep each block's mean and scale; and trained on perturbed objectives (pulls −c·‖a − a*‖², c ≤ 8)
    "symlog inputs": dict(input_normalization="symlog"),
    "symlog inputs, perturbed objectives": dict(input_normalization="symlog", objective_perturbation=8.0),
}
FIGURE_NAMES = dict(
    zip(OPTIONS, ("default", "random_start", "gradient_magnitude", "levers", "symlog", "symlog_perturbed"), strict=True)
)
PENALTIES = ("energy", "target")
STRENGTHS = (0.0, 1.0, 4.0, 16.0, 64.0)


def run_name(option: str, seed: int) -> str:
    return f"{list(OPTIONS).index(option)}_seed{seed}"


def train(args: argparse.Namespace) -> None:
    th.set_num_threads(1)
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for option in args.options:
            policy_kwargs = OPTIONS[option]
            path = logs / f"{run_name(option, seed)}.zip"
            if path.exists():
                continue
            start = time.time()
            model = IterativeSAC(
                "MlpPolicy", args.env, learning_starts=args.learning_starts, seed=seed, policy_kwargs=policy_kwargs
            )
            model.learn(args.timesteps)
            model.save(path)
            print(f"{option}, seed {seed}: {time.time() - start:.0f} s", flush=True)


def penalty(kind: str, coef: float, action_dim: int) -> ObjectiveTerm:
    if kind == "energy":
        return analysis.action_energy_penalty(coef)
    return analysis.action_target_penalty(coef, [0.5 if i % 2 == 0 else -0.5 for i in range(action_dim)])


def mean_return(model, env_id: str, episodes: int, seed: int) -> float:
    env = Monitor(gym.make(env_id))
    env.reset(seed=seed)
    returns, _ = evaluate_policy(model, env, n_eval_episodes=episodes, deterministic=True)
    return float(returns)


def measure(args: argparse.Namespace) -> None:
    th.set_num_threads(1)
    variants = {"K": {}, "K + 5": dict(extra=5), "K + 20": dict(extra=20), "N = 10": dict(samples=10)}
    rows: dict[tuple, list[tuple[float, float]]] = {}
    summary: dict[str, list[tuple[float, float]]] = {}
    for option in args.options:
        for seed in args.seeds:
            model = IterativeSAC.load(Path(args.logs) / f"{run_name(option, seed)}.zip", device="cpu")
            states = analysis.collect_states(model, args.env, n=args.states, seed=seed)
            gap = analysis.amortization_gap(model, states)
            modes = analysis.policy_modes(model, states, n_runs=10, seed=seed)
            if args.figures and seed == args.seeds[0]:  # Fig. 7 of the first seed's agent of each option
                Path(args.figures).mkdir(parents=True, exist_ok=True)
                figure = analysis.plot_policy_modes(model, states, runs=modes)
                figure.suptitle(f"{args.env}, {option}, seed {seed}")
                figure.savefig(Path(args.figures) / f"modes_{FIGURE_NAMES[option]}.png", dpi=90)
            summary.setdefault(option, []).append(
                (
                    mean_return(model, args.env, args.episodes, seed),
                    float(gap.gap.mean()),
                    float(modes.n_modes().mean()),
                    float(np.median(modes.distances)),
                )
            )
            for kind in PENALTIES:
                for coef in STRENGTHS:
                    term = penalty(kind, coef, model.action_space.shape[0])
                    changed = analysis.ChangedObjective(model, term) if coef else model
                    for variant, change in variants.items():
                        policy = model.policy
                        trained = policy.options
                        policy.set_options(
                            n_iterations=trained.n_iterations + change.get("extra", 0),
                            n_action_samples=change.get("samples", trained.n_action_samples),
                        )
                        try:
                            result = analysis.amortization_gap(changed, states)
                        finally:
                            policy.set_options(n_iterations=trained.n_iterations, n_action_samples=trained.n_action_samples)
                        distance = np.linalg.norm(np.tanh(result.amortized_mu) - np.tanh(result.optimized_mu), axis=1)
                        rows.setdefault((option, kind, coef, variant), []).append(
                            (float(result.gap.mean()), float(distance.mean()))
                        )
            print(f"measured {option}, seed {seed}", flush=True)

    print(f"\n{args.env}, IterativeSAC after {args.timesteps} steps, seeds {args.seeds}, {args.states} on-policy states "
          f"per seed; {date.today()}, {cpu_name()}, torch {th.__version__}\n")  # fmt: skip
    print("| option | return (deterministic) | amortization gap | modes per state (10 runs) | median distance of runs |")
    print("|---|---:|---:|---:|---:|")
    for option, values in summary.items():
        returns, gaps, n_modes, distances = np.array(values).T
        print(
            f"| {option} | {returns.mean():.0f} ± {returns.std():.0f} | {gaps.mean():.3f} ± {gaps.std():.3f} | "
            f"{n_modes.mean():.2f} | {distances.mean():.3f} |"
        )
    for kind in PENALTIES:
        print(f"\nPenalty `{kind}`: gap on the changed J / ‖tanh µ − tanh µ*‖ to its optimum (mean over seeds)\n")
        header = " | ".join(f"c = {coef:g}" for coef in STRENGTHS)
        print(f"| option | variant | {header} |")
        print("|---|---|" + "---:|" * len(STRENGTHS))
        for option in args.options:
            for variant in variants:
                cells = []
                for coef in STRENGTHS:
                    gaps, distances = np.array(rows[(option, kind, coef, variant)]).T
                    cells.append(f"{gaps.mean():.3g} / {distances.mean():.2f}")
                print(f"| {option} | {variant} | {' | '.join(cells)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("train", "measure"))
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--timesteps", type=int, default=12000)
    parser.add_argument("--learning-starts", type=int, default=5000, help="random initial steps (the paper's 5 000)")
    parser.add_argument("--logs", default="logs/objective_bed")
    parser.add_argument("--states", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--figures", default=None, help="folder for Fig. 7 of each option's first agent")
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS), help="measure these only")
    args = parser.parse_args()
    train(args) if args.command == "train" else measure(args)


if __name__ == "__main__":
    main()
