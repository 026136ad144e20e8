"""Planning through the model (paper Fig. 13b, c) on a trained model-based iterative agent.

On on-policy states of the agent, the iterative optimizer runs its K iterations on the model-based
J; at each λ_k the model rolls out from tanh(µ_k) (Fig. 13b), and J(s, λ_k) is estimated on fixed
samples (Fig. 13c). Writes the figure of the first state and prints J over iterations, averaged
over the states, as a markdown table.

    python benchmarks/planning.py MODEL.zip --env HalfCheetah-v5 --out benchmarks/figures/planning_halfcheetah.png
"""

import argparse
from datetime import date
from pathlib import Path

import matplotlib
import numpy as np
import torch as th

from sb3_iterative import IterativeSAC, analysis

from speed import cpu_name  # benchmarks/speed.py, beside this script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", metavar="MODEL.zip")
    parser.add_argument("--env", required=True)
    parser.add_argument("--n-states", type=int, default=20, help="on-policy states J over iterations is averaged over")
    parser.add_argument("--n-iterations", type=int, default=None, help="iterations to run (default: the trained K)")
    parser.add_argument("--out", required=True, help="PNG of the first state's planned trajectories and J")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)
    matplotlib.use("Agg")

    model = IterativeSAC.load(args.model, buffer_size=1, device="cpu")
    states = analysis.collect_states(model, args.env, n=args.n_states, seed=args.seed)
    plans = [analysis.planned_trajectories(model, state, n_iterations=args.n_iterations, seed=args.seed) for state in states]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plans[0].plot().savefig(args.out, dpi=120)

    objective = np.stack([plan.objective for plan in plans])  # [states, K + 1]
    moved = np.stack([np.linalg.norm(plan.states[:, -1] - plan.states[0, -1], axis=-1) for plan in plans])
    print(
        f"{args.model} on {args.env}: {len(states)} on-policy states, horizon {plans[0].states.shape[1] - 1}, "
        f"K = {plans[0].trained_iterations}; {cpu_name()}, torch {th.__version__}, {date.today()}\n"
    )
    print("| iteration k | J(s, λ_k), mean ± std over states | J − J(λ_0) | ‖s_h(λ_k) − s_h(λ_0)‖ |")
    print("|---|---|---|---|")
    for k in range(objective.shape[1]):
        gain = objective[:, k] - objective[:, 0]
        print(
            f"| {k} | {objective[:, k].mean():.2f} ± {objective[:, k].std():.2f} | {gain.mean():+.2f} | "
            f"{moved[:, k].mean():.3f} |"
        )
    print(f"\nfigure: {args.out} (state 0; J: {', '.join(f'{value:.2f}' for value in plans[0].objective)})")


if __name__ == "__main__":
    main()
