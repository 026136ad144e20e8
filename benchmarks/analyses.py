"""The paper's analyses on an IterativeSAC and a SAC agent trained on the same task, side by side.

Runs every analysis of ``python -m sb3_iterative.analyze`` on both saved models (each on its own
on-policy states), plus the iterative agent's gap with 5 extra iterations, prints the markdown
tables behind BENCHMARKS.md (amortization gaps; Adam and CEM iterations to reach the J of the
iterative optimizer at its K; J over 1..20 iterations; the mode-distance histogram; value bias) and
writes the figures: each agent's in its own folder, the two agents overlaid at the top.

    python benchmarks/analyses.py --iterative logs/iterative_sac/HalfCheetah-v5_1/HalfCheetah-v5.zip \\
        --sac logs/sac/HalfCheetah-v5_1/HalfCheetah-v5.zip --env HalfCheetah-v5 --out results/analyses
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch as th
from matplotlib.figure import Figure

from sb3_iterative import IterativeSAC, analysis
from sb3_iterative.analyze import load_model, run_analyses, write

EXTRA_ITERATIONS = 5


CEM_DESCRIPTION = {
    "actions": "the paper's CEM: 100 actions from π, a Gaussian fit to the best 10, a step of 0.01 towards it",
    "lambda": "CEM over λ: 100 candidate λ with 10 samples each, refit fully to the best 10",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterative", required=True, help="a saved IterativeSAC model (.zip)")
    parser.add_argument("--sac", required=True, help="a saved SAC model (.zip), same task and budget")
    parser.add_argument("--env", required=True)
    parser.add_argument("--out", default="results/analyses", help="folder for the figures and the numbers")
    parser.add_argument("--n-states", type=int, default=100)
    parser.add_argument("--n-iterations", type=int, default=20, help="iterations of the J curve (default 20)")
    parser.add_argument("--adam-steps", type=int, default=500)
    parser.add_argument("--cem-steps", type=int, default=1000)
    parser.add_argument("--cem", choices=("actions", "lambda"), default="actions")
    parser.add_argument("--value-pairs", type=int, default=100)
    parser.add_argument("--horizon", type=int, help="rollout steps of the value bias (default: γ^horizon < 1e-3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    matplotlib.use("Agg")
    th.set_num_threads(args.threads)
    out = Path(args.out)

    paths = {"IterativeSAC": args.iterative, "SAC": args.sac}
    models = {name: load_model(path, device="cpu") for name, path in paths.items()}
    iterative = models["IterativeSAC"]
    if not (isinstance(iterative, IterativeSAC) and iterative.policy.actor_kind == "iterative"):
        raise ValueError(f"--iterative {args.iterative} is not an IterativeSAC model with the iterative actor")
    results: dict[str, dict[str, Any]] = {}
    for name, model in models.items():
        states = analysis.collect_states(model, args.env, n=args.n_states, seed=args.seed)
        results[name] = run_analyses(
            model, args.env, out / name.lower(), n_iterations=args.n_iterations, adam_steps=args.adam_steps,
            cem_steps=args.cem_steps, cem=args.cem, value_pairs=args.value_pairs, horizon=args.horizon, seed=args.seed,
            states=states,
        )  # fmt: skip
        if name == "IterativeSAC":
            extra = iterative.policy.n_iterations + EXTRA_ITERATIONS
            results[name]["amortization_gap_extra_iterations"] = dict(
                n_iterations=extra, **analysis.amortization_gap(model, states, n_iterations=extra, seed=args.seed).summary()
            )
        write(results[name], out / name.lower(), title=f"{name} ({Path(paths[name]).name})")
        print(f"{name}: done", file=sys.stderr, flush=True)

    (out / "results.json").write_text(json.dumps(results, indent=2))
    print(tables(results, args))
    figures(results, out)


def tables(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    it, sac = results["IterativeSAC"], results["SAC"]
    k = it["model"]["n_iterations"]
    lines = [
        f"Analyses on {args.env}: IterativeSAC `{args.iterative}` and SAC `{args.sac}`; "
        f"{it['settings']['n_states']} on-policy "
        f"states per agent, seed {args.seed}; {it['machine']}, {it['date']}.",
        f"Command: `python benchmarks/analyses.py {' '.join(sys.argv[1:])}`",
        "",
        "**Amortization gap** (Adam on λ, lr 5e-3, 100 steps; J at β = acting β; mean ± std over states)",
        "",
        "| agent | gap | J amortized |",
        "|---|---:|---:|",
    ]
    extra = it["amortization_gap_extra_iterations"]
    gaps = {
        f"IterativeSAC, K = {k}": it["amortization_gap"],
        f"IterativeSAC, K = {extra['n_iterations']} at test time": extra,
        "SAC": sac["amortization_gap"],
    }
    for label, gap in gaps.items():
        lines.append(f"| {label} | {gap['mean']:.4g} ± {gap['std']:.3g} | {gap['mean_amortized_objective']:.4g} |")

    optimizers = it["optimizers"]
    final, seconds = optimizers["final_objective"], optimizers["seconds_per_iteration"]
    lines += [
        "",
        f"**Optimizer efficiency** (from λ_0; "
        f"Adam lr 0.01 with 10 samples; {CEM_DESCRIPTION[optimizers['cem']]}): iterations and wall time "
        f"to reach the mean J of the iterative optimizer at K = {k} ({optimizers['target_objective']:.4g})",
        "",
        "| optimizer | iterations | × K | ms to reach | final mean J | ms per iteration |",
        "|---|---:|---:|---:|---:|---:|",
        f"| iterative | {k} | 1 | {optimizers['seconds_to_match']['iterative'] * 1e3:.3g} | {final['iterative']:.4g} "
        f"| {seconds['iterative'] * 1e3:.3g} |",
    ]
    for name in ("adam", "cem"):
        reached, budget = optimizers["iterations_to_match"][name], optimizers["budget"][name]
        count, ratio = (str(reached), f"{reached / k:.3g}") if reached is not None else (f"> {budget}", f"> {budget / k:.3g}")
        to_match = optimizers["seconds_to_match"][name]
        time_taken = f"{to_match * 1e3:.3g}" if to_match is not None else "–"
        lines.append(f"| {name} | {count} | {ratio} | {time_taken} | {final[name]:.4g} | {seconds[name] * 1e3:.3g} |")

    curve = it["improvement"]["mean_objective"]
    lines += [
        "",
        f"**J over iterations** (the optimizer trained with K = {k}, run to {len(curve) - 1}; mean over states)",
        "",
        "| k | " + " | ".join(str(i) for i in range(1, len(curve))) + " |",
        "|---|" + "---:|" * (len(curve) - 1),
        "| J(λ_k) | " + " | ".join(f"{value:.4g}" for value in curve[1:]) + " |",
        "| J(λ_k) − J(λ_0) | " + " | ".join(f"{value - curve[0]:.3g}" for value in curve[1:]) + " |",
        "",
        "**Policy modes** (10 runs per state; pairwise distances of tanh(µ); histogram over [0, 2√|A|] in 10 bins)",
        "",
        "| agent (runs) | median | 90% | 99% | largest | max possible | histogram |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, result in results.items():
        modes = result["modes"]
        quantiles = modes["quantiles"]
        lines.append(
            f"| {name} ({modes['optimizer']}) | {quantiles['0.5']:.3g} | {quantiles['0.9']:.3g} | {quantiles['0.99']:.3g} | "
            f"{modes['largest_distance']:.3g} | {modes['max_distance']:.3g} | "
            f"{' '.join(map(str, modes['histogram']['counts']))} |"
        )
    lines += [
        "",
        "**Value bias** (Q̂_β − soft Monte Carlo return on random state-action pairs; β = training β)",
        "",
        "| agent | bias | Q̂ | return | β | pairs (truncated) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        bias = result["value_bias"]
        lines.append(
            f"| {name} | {bias['mean']:.4g} ± {bias['std']:.3g} | {bias['mean_estimate']:.4g} | {bias['mean_return']:.4g} | "
            f"{bias['beta']:g} | {bias['n_pairs']} ({bias['n_truncated']}) |"
        )
    return "\n".join(lines)


def figures(results: dict[str, dict[str, Any]], out: Path) -> None:
    """The two agents overlaid: gaps, mode distances, value bias."""
    for name, key, xlabel in (
        ("amortization_gap", "per_state", "amortization gap  J(optimized λ) − J(amortized λ)"),
        ("value_bias", "per_pair", "value bias  Q̂(s, a) − Monte Carlo return"),
    ):
        figure = Figure(figsize=(5.0, 3.6), layout="constrained")
        ax = figure.add_subplot()
        every = np.concatenate([result[name][key] for result in results.values()])
        bins = np.linspace(every.min(), every.max(), 31)
        for agent, result in results.items():
            ax.hist(result[name][key], bins=bins, alpha=0.6, label=f"{agent} (mean {result[name]['mean']:.3g})")
        ax.set_xlabel(xlabel)
        ax.legend()
        figure.savefig(out / f"{name}.png", dpi=120)
    figure = Figure(figsize=(5.0, 3.6), layout="constrained")
    ax = figure.add_subplot()
    for agent, result in results.items():
        histogram = result["modes"]["histogram"]
        edges = np.asarray(histogram["edges"])
        ax.stairs(histogram["counts"], edges, label=f"{agent} ({result['modes']['optimizer']} runs)")
    ax.set_yscale("symlog")
    ax.set_xlabel("pairwise distance between runs' tanh(µ)")
    ax.set_ylabel("pairs of runs")
    ax.legend()
    figure.savefig(out / "modes.png", dpi=120)
    print(
        f"\nfigures: {out}/amortization_gap.png, modes.png, value_bias.png; per agent: {out}/iterativesac/, {out}/sac/",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
