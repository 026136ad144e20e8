"""Train IterativeSAC on Pendulum-v1 and show the return before and after training.

python examples/train_pendulum.py --timesteps 8000
python examples/train_pendulum.py --algo sac --timesteps 6000     # stock SAC, the same settings
"""

import argparse
import time

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_iterative import IterativeSAC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["iterative_sac", "sac"], default="iterative_sac")
    parser.add_argument("--timesteps", type=int, default=8000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default=None, help="where to save the model (.zip; default: ALGO_pendulum)")
    args = parser.parse_args()
    th.set_num_threads(1)

    algorithm = IterativeSAC if args.algo == "iterative_sac" else SAC
    model = algorithm("MlpPolicy", "Pendulum-v1", learning_rate=1e-3, learning_starts=1000, seed=args.seed, verbose=0)
    before, _ = evaluate_policy(model, model.get_env(), n_eval_episodes=10)
    print(f"mean return before training: {before:8.1f}  (a random policy scores about -1200)")

    start = time.perf_counter()
    model.learn(args.timesteps, progress_bar=True)
    elapsed = time.perf_counter() - start

    after, std = evaluate_policy(model, model.get_env(), n_eval_episodes=10)
    print(f"mean return after {args.timesteps} steps: {after:8.1f} ± {std:.1f}  ({args.timesteps / elapsed:.0f} steps/s)")
    print("Pendulum-v1 counts as solved around -200; rl-zoo3's SAC reaches -157 ± 89 after 20 000 steps.")
    save = args.save or f"{args.algo}_pendulum"
    model.save(save)
    print(f"saved to {save}.zip")


if __name__ == "__main__":
    main()
