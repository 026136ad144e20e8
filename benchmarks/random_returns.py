"""The return of a uniformly random policy on each task of the package's hyperparameter files: the 0
of the report's normalized scores (``sb3_iterative/compare/references.py``).

    python benchmarks/random_returns.py                  # 50 episodes per task, seed 0
"""

import argparse

import gymnasium as gym
import numpy as np

from sb3_iterative.compare.references import TASKS


def random_return(env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    env = gym.make(env_id)
    env.action_space.seed(seed)
    returns = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return float(np.mean(returns)), float(np.std(returns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env", nargs="+", default=list(TASKS))
    args = parser.parse_args()
    print("| task | random return (mean ± std) |")
    print("|---|---|")
    for env_id in args.env:
        mean, std = random_return(env_id, args.episodes, args.seed)
        print(f"| {env_id} | {mean:.1f} ± {std:.1f} |", flush=True)


if __name__ == "__main__":
    main()
