"""Which statistics CrossQ's critics use while they serve as J: running statistics (IterativeCrossQ's choice)
against the batch's, on saved IterativeCrossQ agents: a markdown table.

IterativeCrossQ reads its batch-renormalized critics as J with their running statistics, as CrossQ's own actor
step does and as acting must (one observation has no batch statistics). The alternative normalizes each
evaluation of J with the statistics of the batch of (s, a) it is given. On each agent's on-policy states, at the
λ its optimizer reaches (K iterations on the running-statistics J), this compares the two J: their values, and
the direction of ∇_µ J that the optimizer reads. The batch statistics are taken on a copy of the critics, whose
running statistics the evaluation would otherwise move.

    python benchmarks/crossq_statistics.py --env HalfCheetah-v5 logs/iterative_crossq/HalfCheetah-v5_*/HalfCheetah-v5.zip
"""

import argparse
import copy
from datetime import date

import numpy as np
import torch as th

from sb3_iterative import IterativeCrossQ, analysis
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.objective import objective_gradient

from speed import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="MODEL.zip", help="saved IterativeCrossQ agents")
    parser.add_argument("--env", required=True)
    parser.add_argument("--n-states", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    th.set_num_threads(1)
    print(
        f"{args.env}: {args.n_states} on-policy states per agent, λ_K of each agent's optimizer, J at its acting β on "
        f"10 samples per state; {cpu_name()}, torch {th.__version__}, {date.today()}\n"
    )
    print("| agent | J, running | J, batch | mean \\|ΔJ\\| ÷ std of J over states | cos(∇_µ J running, ∇_µ J batch) |")
    print("|---|---|---|---|---|")
    for path in args.models:
        model = IterativeCrossQ.load(path, device="cpu")
        agent = analysis.as_agent(model)
        states = analysis.collect_states(model, args.env, n=args.n_states, seed=args.seed)
        obs = agent.observations(states)
        running = agent.bind(obs)
        trace = agent.amortized(obs, running, agent.beta, agent.generator(args.seed))
        batch_critic = copy.deepcopy(model.critic)
        batch_critic.set_bn_training_mode(True)
        batch = EnsembleQ(batch_critic, obs, agent.pessimism)
        noise = agent.noise(10, obs.shape[0], agent.generator(args.seed + 1))
        with th.no_grad():
            estimates = [
                objective_gradient(estimate, trace.mu, trace.log_std, noise, agent.ent_coef, agent.beta)
                for estimate in (running, batch)
            ]
        values = [estimate.value.numpy() for estimate in estimates]
        gradients = [estimate.gradient[0] for estimate in estimates]
        cosine = th.nn.functional.cosine_similarity(gradients[0], gradients[1], dim=-1).mean().item()
        spread = np.mean(np.abs(values[0] - values[1])) / values[0].std()
        print(f"| {path} | {values[0].mean():.4g} | {values[1].mean():.4g} | {spread:.3f} | {cosine:.3f} |")


if __name__ == "__main__":
    main()
