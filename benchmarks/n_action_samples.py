"""Return and training time of IterativeSAC for N (n_action_samples) = 1 and 10 on Pendulum-v1.

The measurement behind the default of ``n_action_samples``. One torch thread per run.

    python benchmarks/n_action_samples.py --steps 8000 --seeds 0 1 --samples 1 10
"""

import argparse
import platform
import time
from datetime import date

import numpy as np
import torch as th
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_iterative import IterativeSAC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--samples", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--eval-episodes", type=int, default=10)
    args = parser.parse_args()
    th.set_num_threads(1)

    print(f"{args.env}, {args.steps} steps, seeds {args.seeds}; {platform.processor() or platform.machine()}, {date.today()}")
    print("| N | final return (mean ± std over seeds) | wall time per run (s) |")
    print("|---|---|---|")
    for n_samples in args.samples:
        returns, times = [], []
        for seed in args.seeds:
            model = IterativeSAC(
                "MlpPolicy",
                args.env,
                learning_rate=1e-3,
                learning_starts=1000,
                seed=seed,
                device="cpu",
                policy_kwargs=dict(n_action_samples=n_samples),
            )
            start = time.perf_counter()
            model.learn(args.steps)
            times.append(time.perf_counter() - start)
            mean_return, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=args.eval_episodes)
            returns.append(mean_return)
            print(f"  N={n_samples} seed={seed}: return {mean_return:.1f}, {times[-1]:.0f} s", flush=True)
        print(f"| {n_samples} | {np.mean(returns):.1f} ± {np.std(returns):.1f} | {np.mean(times):.0f} |", flush=True)


if __name__ == "__main__":
    main()
