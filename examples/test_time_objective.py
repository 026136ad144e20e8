"""Change the objective of a trained agent at test time: an action-energy penalty, without retraining.

The iterative optimizer of IterativeSAC reads ∇_λ J at each of its K updates, so it optimizes
whatever J it is given. Here J gets a term −c·‖a‖² (a in the policy's [−1, 1] action space) added
to every critic's Q at deployment, through ``analysis.ChangedObjective``; the same trained network
then acts on the new objective. The script prints, per c, the mean return and the mean action
energy ‖a‖² per step of episodes run with it.

How far the optimizer follows the new J is measured, not assumed: the script also prints, on
on-policy states, the energy of the optimizer's actions next to that of the optimum of the changed
J (Adam on λ, as the amortization gap), and the gap itself, which grows where it does not follow.

SAC cannot do this: its actor is a direct map λ = f_φ(s) that never reads the critic or J when it
acts, so a term added to J changes nothing it does. Adapting it means retraining f_φ on the new J
(or dropping amortization and optimizing λ per state, e.g. with ``analysis.amortization_gap``'s Adam,
at tens of critic evaluations per step).

    python examples/train_pendulum.py                 # saves iterative_sac_pendulum.zip (about 5 minutes)
    python examples/test_time_objective.py --model iterative_sac_pendulum.zip
"""

import argparse

import numpy as np
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_iterative import IterativeSAC, analysis


def rollout(policy, env_id: str, episodes: int, seed: int) -> tuple[float, float]:
    """Mean return per episode and mean ‖a‖² per step, a in the policy's [−1, 1] action space."""
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    scale = env.action_space.high
    returns, energies = [], []
    obs, episode_return = env.reset(), 0.0
    while len(returns) < episodes:
        action, _ = policy.predict(obs, deterministic=True)
        energies.append(float(((action / scale) ** 2).sum()))
        obs, reward, done, _ = env.step(action)
        episode_return += float(reward[0])
        if done[0]:
            returns.append(episode_return)
            episode_return = 0.0
    return float(np.mean(returns)), float(np.mean(energies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a trained IterativeSAC .zip (default: train one for --timesteps)")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--timesteps", type=int, default=6000, help="training steps when no --model is given")
    parser.add_argument("--coefs", type=float, nargs="+", default=[0.0, 1.0, 4.0, 16.0], help="penalty coefficients c")
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)

    if args.model:
        model = IterativeSAC.load(args.model)
    else:
        model = IterativeSAC("MlpPolicy", args.env, learning_rate=1e-3, learning_starts=1000, seed=args.seed)
        model.learn(args.timesteps, progress_bar=False)
    states = analysis.collect_states(model, args.env, n=100, seed=args.seed)

    print(f"{args.env}: J + (−c·‖a‖²) at test time, the same trained optimizer (K = {model.policy.n_iterations}); "
          f"returns over {args.episodes} episodes, ‖a‖² per step; on 100 on-policy states: ‖tanh µ‖² of the optimizer "
          "and of Adam's optimum of the changed J, and the amortization gap on the changed J")  # fmt: skip
    print("|   c | mean return | ‖a‖² in episodes | ‖tanh µ‖² optimizer | ‖tanh µ‖² Adam's optimum | gap on the changed J |")
    print("|----:|------------:|-----------------:|--------------------:|-------------------------:|---------------------:|")
    for coef in args.coefs:
        policy = analysis.ChangedObjective(model, analysis.action_energy_penalty(coef)) if coef else model
        mean_return, energy = rollout(policy, args.env, args.episodes, args.seed)
        gap = analysis.amortization_gap(policy, states)
        amortized, optimum = (float((np.tanh(mu) ** 2).sum(axis=1).mean()) for mu in (gap.amortized_mu, gap.optimized_mu))
        print(
            f"| {coef:3g} | {mean_return:11.1f} | {energy:16.3f} | {amortized:19.3f} | {optimum:24.3f} | "
            f"{gap.gap.mean():20.4f} |"
        )
    print(
        "Where the optimizer follows the penalty, its ‖tanh µ‖² falls with c as the optimum's does; the gap on the "
        "changed J says how much of the new objective it leaves."
    )
    print("A direct actor (SAC) would print the same actions for every c: λ = f_φ(s) does not read J when it acts.")


if __name__ == "__main__":
    main()
