"""The amortization gap (paper Fig. 6, 15) of several saved agents of one task, side by side: a markdown table.

Each agent is measured on its own on-policy states (``analysis.collect_states``, the same seed for
all) with ``analysis.amortization_gap``: Adam on λ per state (lr 5e-3, 100 steps), J before and
after on the same 100 samples per state, each agent's own J at its acting β. For a flow agent λ is
its base Gaussian (µ, log σ) and the state's flow stays fixed; for an iterative agent the gap is
also given with 5 iterations beyond its K (the paper's test-time iterations).

    python benchmarks/amortization_gaps.py --env Hopper-v5 \\
        sac=logs/sac/Hopper-v5_1/Hopper-v5.zip flow_sac=logs/flow_sac/Hopper-v5_1/Hopper-v5.zip \\
        iterative_sac=logs/iterative_sac/Hopper-v5_1/Hopper-v5.zip
"""

import argparse
from datetime import date

import torch as th

from sb3_iterative import analysis
from sb3_iterative.analyze import load_model

from speed import cpu_name

EXTRA_ITERATIONS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="LABEL=MODEL.zip", help="saved agents, each with its label")
    parser.add_argument("--env", required=True)
    parser.add_argument("--n-states", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)
    agents = {}
    for item in args.models:
        label, separator, path = item.partition("=")
        if not separator or not label or not path:
            parser.error(f"each model is LABEL=PATH, got {item!r}")
        agents[label] = load_model(path, device="cpu")

    print(
        f"{args.env}: {args.n_states} on-policy states per agent, seed {args.seed}; Adam lr 5e-3, 100 steps; "
        f"J on 100 samples per state; {cpu_name()}, torch {th.__version__}, {date.today()}\n"
    )
    print("| agent | actor | gap mean ± std | median | J amortized | J optimized |")
    print("|---|---|---|---|---|---|")
    for label, model in agents.items():
        agent = analysis.as_agent(model)
        states = analysis.collect_states(model, args.env, n=args.n_states, seed=args.seed)
        runs = [(agent.actor, None)]
        if agent.reads_objective:
            k = model.policy.n_iterations
            runs.append((f"iterative, K = {k} + {EXTRA_ITERATIONS}", k + EXTRA_ITERATIONS))
        for actor, n_iterations in runs:
            gap = analysis.amortization_gap(model, states, n_iterations=n_iterations, seed=args.seed).summary()
            print(
                f"| {label} | {actor} | {gap['mean']:.3g} ± {gap['std']:.3g} | {gap['median']:.3g} | "
                f"{gap['mean_amortized_objective']:.4g} | {gap['mean_optimized_objective']:.4g} |"
            )


if __name__ == "__main__":
    main()
