"""The paper's Fig. 9: a model-free iterative optimizer moved onto a model-based agent's objective.

At every checkpoint the model-free (``iterative_sac``) and model-based (``iterative_sac_mb``) runs of
a comparison sweep share (``--save-freq`` in the sweep), three agents are evaluated on the same
episodes, deterministically: the model-based agent, the model-free agent, and the model-free agent's
whole optimizer acting on the model-based agent's objective (``analysis.transfer_optimizer``). The
paper's claim: the moved optimizer at once recovers the model-based agent's return.

    python benchmarks/transfer.py --logs logs/model_based/pendulum --env Pendulum-v1 --seeds 1 2 3 \
        --steps 1000 2000 3000 4000 6000 10000 --episodes 3 --out benchmarks/figures/model_based/transfer_pendulum.png

Prints a markdown table (mean ± std over seeds of each agent's mean return over ``--episodes``).
"""

import argparse
import re
from datetime import date
from pathlib import Path

import gymnasium as gym
import matplotlib
import numpy as np
import torch as th
from matplotlib.figure import Figure
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor

from sb3_iterative import IterativeSAC, analysis

from speed import cpu_name  # benchmarks/speed.py, beside this script

AGENTS = ("model-based", "model-free", "model-free optimizer on the model-based J")


def checkpoints(run: Path) -> dict[int, Path]:
    """A run folder's checkpoints (rl-zoo3's rl_model_<steps>_steps.zip), by step."""
    found = {}
    for path in run.glob("rl_model_*_steps.zip"):
        match = re.fullmatch(r"rl_model_(\d+)_steps\.zip", path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def mean_return(policy, env_id: str, episodes: int, seed: int) -> float:
    env = Monitor(gym.make(env_id))
    env.reset(seed=seed)
    returns, _ = evaluate_policy(policy, env, n_eval_episodes=episodes, deterministic=True, return_episode_rewards=True)
    return float(np.mean(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", required=True, help="the sweep's log folder (with iterative_sac and iterative_sac_mb runs)")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--episodes", type=int, default=5, help="deterministic episodes per agent and checkpoint")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="the checkpoints to evaluate (default: every one)")
    parser.add_argument("--out", default=None, help="PNG of the returns over training")
    args = parser.parse_args()
    th.set_num_threads(1)
    matplotlib.use("Agg")

    results: dict[int, dict[str, list[float]]] = {}
    for seed in args.seeds:
        free = checkpoints(Path(args.logs) / "iterative_sac" / f"{args.env}_{seed}")
        based = checkpoints(Path(args.logs) / "iterative_sac_mb" / f"{args.env}_{seed}")
        steps = set(free) & set(based) if args.steps is None else set(args.steps) & set(free) & set(based)
        for step in sorted(steps):
            model_free = IterativeSAC.load(free[step], buffer_size=1, device="cpu")
            model_based = IterativeSAC.load(based[step], buffer_size=1, device="cpu")
            moved = analysis.transfer_optimizer(model_free, model_based)
            row = results.setdefault(step, {agent: [] for agent in AGENTS})
            for agent, policy in zip(AGENTS, (model_based, model_free, moved), strict=True):
                row[agent].append(mean_return(policy, args.env, args.episodes, seed=1000 * seed + step))
            print(f"seed {seed} step {step}: " + ", ".join(f"{agent} {row[agent][-1]:.1f}" for agent in AGENTS), flush=True)

    print(
        f"\n{args.env}, seeds {args.seeds}, {args.episodes} deterministic episodes per agent and checkpoint; "
        f"{cpu_name()}, torch {th.__version__}; {date.today()}\n"
    )
    print("| steps | " + " | ".join(AGENTS) + " |")
    print("|---" * (len(AGENTS) + 1) + "|")
    for step, row in sorted(results.items()):
        print(f"| {step} | " + " | ".join(f"{np.mean(row[a]):.1f} ± {np.std(row[a]):.1f}" for a in AGENTS) + " |")
    if args.out:
        figure = Figure(figsize=(6, 3.8), layout="constrained")
        ax = figure.add_subplot()
        steps = sorted(results)
        for agent in AGENTS:
            mean = np.array([np.mean(results[step][agent]) for step in steps])
            std = np.array([np.std(results[step][agent]) for step in steps])
            ax.plot(steps, mean, marker="o", markersize=3, label=agent)
            ax.fill_between(steps, mean - std, mean + std, alpha=0.15)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("return (deterministic)")
        ax.set_title(f"{args.env}: transfer of the optimizer (Fig. 9)")
        ax.legend(fontsize="small")
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
