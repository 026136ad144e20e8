"""Run the paper's analyses on a saved model: every figure as PNG, the numbers as JSON, a markdown summary.

    python -m sb3_iterative.analyze MODEL.zip --env ENV --out DIR

MODEL.zip is a model of the package (IterativeSAC, IterativeTQC, IterativeCrossQ) or a stock SAC, TQC or
CrossQ agent (told apart by the policy it holds). On
``--n-states`` on-policy states it runs the amortization gap, the per-iteration improvement to
``--n-iterations`` and the comparison with Adam and CEM (iterative models only), the policy modes,
two landscapes (the first state, with the optimizer's path; the state whose runs spread most, with
the runs) and the value bias; for a model-based iterative agent also the planned trajectories and
J over iterations on the first state (Fig. 13b, c). DIR receives ``<analysis>.png``, ``results.json`` and ``summary.md``.
"""

import argparse
import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import torch as th
from sb3_contrib import TQC, CrossQ
from sb3_contrib.crossq.policies import CrossQPolicy
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3 import SAC
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.sac.policies import SACPolicy

from sb3_iterative import (
    IterativeCrossQ,
    IterativeCrossQPolicy,
    IterativeSAC,
    IterativeSACPolicy,
    IterativeTQC,
    IterativeTQCPolicy,
    analysis,
)
from sb3_iterative.analysis.models import TrainedModel
from sb3_iterative.common.amortizers import amortizer_of
from sb3_iterative.common.iterative_actor import observation_batch_size
from sb3_iterative.extras import import_extra

FIGURES = {
    "amortization_gap": "amortization gap (Fig. 6)",
    "improvement": "J over iterations (Fig. 4b)",
    "optimizers": "iterative vs Adam vs CEM (Fig. 4c)",
    "modes": "pairwise distances of the runs' actions (Fig. 7)",
    "modes_landscape": "J around the state whose runs spread most, with the runs (Fig. 7b)",
    "modes_density": "the policy density of that state's runs over the same two action dimensions (Fig. 7c)",
    "landscape": "J over µ with the optimizer's path (Fig. 1)",
    "value_bias": "Q̂ − Monte Carlo return (Fig. 3)",
    "planning": "the model's planned trajectory at each iteration, and J over iterations (Fig. 13b, c)",
}


# The algorithm of each policy a saved model may hold; the package's policies subclass the stock ones, so they come first
ALGORITHM_OF_POLICY: tuple[tuple[type, type[TrainedModel]], ...] = (
    (IterativeSACPolicy, IterativeSAC),
    (IterativeTQCPolicy, IterativeTQC),
    (IterativeCrossQPolicy, IterativeCrossQ),
    (SACPolicy, SAC),
    (TQCPolicy, TQC),
    (CrossQPolicy, CrossQ),
)


def load_model(path: str | Path, device: str = "auto") -> TrainedModel:
    """A model of the package or a stock SAC, TQC or CrossQ agent from its .zip, whichever it holds."""
    data, _, _ = load_from_zip_file(path, device=device)
    policy_class = data.get("policy_class") if data else None
    for policy, algorithm in ALGORITHM_OF_POLICY:
        if isinstance(policy_class, type) and issubclass(policy_class, policy):
            return algorithm.load(path, device=device)
    name = getattr(policy_class, "__name__", repr(policy_class))
    names = ", ".join(algorithm.__name__ for _, algorithm in ALGORITHM_OF_POLICY)
    raise ValueError(f"MODEL {path} holds a {name} policy; analyze reads the models of {names}")


def describe(model: TrainedModel) -> dict[str, Any]:
    """What the analyses ran on: the algorithm, its actor, K, α and the two β."""
    agent = analysis.as_agent(model)
    return dict(
        algorithm=type(model).__name__,
        actor=agent.actor,
        n_iterations=agent.n_iterations if agent.reads_objective else None,
        value_estimator=getattr(model.policy, "value_estimator", "critic"),
        ent_coef=agent.ent_coef,
        beta_acting=agent.beta,
        beta_training=agent.training_beta,
        action_dim=agent.action_dim,
    )


def run_analyses(
    model: TrainedModel,
    env: str,
    out: str | Path,
    n_states: int = 100,
    n_iterations: int = 20,
    adam_steps: int = 500,
    cem_steps: int = 1000,
    cem: str = "actions",
    n_runs: int = 10,
    dims: tuple[int, ...] | None = None,
    resolution: int = 41,
    value_pairs: int = 100,
    horizon: int | None = None,
    beta: float | None = None,
    seed: int = 0,
    states: Any | None = None,
) -> dict[str, Any]:
    """Every analysis on ``model``: figures into ``out``, the numbers returned (and written by :func:`write`).

    ``dims`` defaults to (0, 1), or (0,) with a one-dimensional action space; ``states`` to
    ``n_states`` on-policy states collected in ``env``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    info = describe(model)
    amortizer = amortizer_of(model.policy)  # what the actor can do decides which analyses apply
    dims = dims if dims is not None else ((0, 1) if info["action_dim"] >= 2 else (0,))
    if states is None:
        states = analysis.collect_states(model, env, n=n_states, seed=seed)
    n_states = observation_batch_size(states)
    results: dict[str, Any] = dict(
        model=info,
        env=env,
        settings=dict(n_states=n_states, n_iterations=n_iterations, adam_steps=adam_steps, cem_steps=cem_steps, cem=cem,
                      n_runs=n_runs, dims=list(dims), value_pairs=value_pairs, horizon=horizon, beta=beta, seed=seed),
        machine=f"{platform.machine()} {platform.processor()} ({platform.system()}, Python {platform.python_version()})",
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        figures={},
    )  # fmt: skip

    def save(name: str, figure: Any) -> None:
        figure.savefig(out / f"{name}.png", dpi=120)
        results["figures"][name] = f"{name}.png"

    gap = analysis.amortization_gap(model, states, beta=beta, seed=seed)
    results["amortization_gap"] = gap.summary()
    save("amortization_gap", gap.plot())

    if amortizer.reads_objective:
        curve = analysis.improvement_per_iteration(model, states, n_iterations=n_iterations, beta=beta, seed=seed)
        results["improvement"] = curve.summary()
        save("improvement", curve.plot())
        comparison = analysis.compare_optimizers(
            model, states, adam_steps=adam_steps, cem_steps=cem_steps, cem=cem, beta=beta, seed=seed
        )
        results["optimizers"] = comparison.summary()
        save("optimizers", comparison.plot())
    else:
        results["improvement"] = results["optimizers"] = f"not applicable: the actor is {info['actor']} (no iterations)"

    if not amortizer.tanh_gaussian:
        results["modes"] = results["modes_landscape"] = results["modes_density"] = (
            "not applicable: a flow policy's action is tanh(T(µ)), its modes are not those of tanh(µ)"
        )
    else:
        modes = analysis.policy_modes(model, states, n_runs=n_runs, beta=beta, seed=seed)
        results["modes"] = modes.summary()
        save("modes", modes.plot())
        widest = modes.widest_state
        runs = modes.mu[widest][:, list(dims)]
        around = analysis.objective_landscape(
            model, _state(states, widest), dims, resolution=resolution, extra_points=runs, beta=beta, seed=seed
        )
        results["modes_landscape"] = dict(state_index=widest, **around.summary())
        save("modes_landscape", around.plot(points=runs, points_label=f"{modes.optimizer} runs"))
        if len(dims) == 2:
            results["modes_density"] = dict(state_index=widest, dims=list(dims))
            save("modes_density", modes.plot_density(state=widest, dims=(dims[0], dims[1])))
        else:
            results["modes_density"] = "not applicable: one action dimension"

    landscape = analysis.objective_landscape(model, _state(states, 0), dims, resolution=resolution, beta=beta, seed=seed)
    results["landscape"] = dict(state_index=0, **landscape.summary())
    save("landscape", landscape.plot())

    bias = analysis.value_bias(model, env, n_pairs=value_pairs, horizon=horizon, beta=beta, seed=seed)
    results["value_bias"] = bias.summary()
    save("value_bias", bias.plot())

    if amortizer.reads_objective and info["value_estimator"] == "model":
        plans = analysis.planned_trajectories(model, _state(states, 0), beta=beta, seed=seed)
        results["planning"] = dict(state_index=0, **plans.summary())
        save("planning", plans.plot())
    return results


def write(results: dict[str, Any], out: str | Path, title: str) -> None:
    """``results.json`` and ``summary.md`` in ``out``."""
    out = Path(out)
    (out / "results.json").write_text(json.dumps(results, indent=2, default=_jsonable))
    (out / "summary.md").write_text(summary(results, title))


def summary(results: dict[str, Any], title: str) -> str:
    """The markdown summary of :func:`run_analyses`' results."""
    info, gap, modes, bias = results["model"], results["amortization_gap"], results["modes"], results["value_bias"]
    lines = [
        f"# Analyses of {title}",
        "",
        f"{info['algorithm']} ({info['actor']} actor{', K = ' + str(info['n_iterations']) if info['n_iterations'] else ''}, "
        f"{'model-based' if info.get('value_estimator') == 'model' else 'model-free'} value), "
        f"{results['env']}; α = {info['ent_coef']:.4g}, β = {gap['beta']:g} in J (acting β {info['beta_acting']:g}, "
        f"training β {info['beta_training']:g}); {results['settings']['n_states']} on-policy states, seed "
        f"{results['settings']['seed']}. {results['machine']}, {results['date']}.",
        "",
        "| analysis | result |",
        "|---|---|",
        f"| amortization gap (Adam on λ, lr 5e-3, 100 steps) | {gap['mean']:.4g} ± {gap['std']:.3g} "
        f"(J amortized {gap['mean_amortized_objective']:.4g}) |",
    ]
    if isinstance(results["improvement"], dict):
        improvement, optimizers = results["improvement"], results["optimizers"]
        objective = improvement["mean_objective"]
        k = improvement["trained_iterations"]
        lines.append(
            f"| J(λ_K) − J(λ_0), K = {k} | {improvement['mean_improvement']:.4g} (J: {objective[0]:.4g} at k = 0, "
            f"{objective[min(k, len(objective) - 1)]:.4g} at K, {objective[-1]:.4g} at k = {len(objective) - 1}) |"
        )
        for name in ("adam", "cem"):
            reached, seconds_to_match = optimizers["iterations_to_match"][name], optimizers["seconds_to_match"][name]
            count = str(reached) if reached is not None else f"> {optimizers['budget'][name]}"
            time_taken = f"{seconds_to_match * 1e3:.3g} ms" if seconds_to_match is not None else "not reached"
            label = f"{name} (over {optimizers['cem']})" if name == "cem" else name
            lines.append(f"| {label} iterations (time) to reach the iterative J at K | {count} ({time_taken}) |")
        seconds = optimizers["seconds_per_iteration"]
        lines.append(
            "| seconds per iteration | " + ", ".join(f"{name} {value * 1e3:.3g} ms" for name, value in seconds.items()) + " |"
        )
    if isinstance(modes, dict):
        quantiles = modes["quantiles"]
        lines.append(
            f"| mode distances ({modes['optimizer']}, {modes['n_runs']} runs; max {modes['max_distance']:.3g}) | "
            f"median {quantiles['0.5']:.3g}, 90% {quantiles['0.9']:.3g}, largest {modes['largest_distance']:.3g} |"
        )
        per_state = modes["modes_per_state"]
        lines.append(
            f"| distinct modes per state (radius {modes['mode_radius']:.3g}) | mean {per_state['mean']:.3g}; "
            f"states with 1, 2, … modes: {' '.join(map(str, per_state['counts']))} |"
        )
    else:
        lines.append(f"| mode distances | {modes} |")
    lines += [
        f"| value bias Q̂ − MC return ({bias['n_pairs']} pairs, β {bias['beta']:g}) | {bias['mean']:.4g} ± {bias['std']:.3g} "
        f"(Q̂ {bias['mean_estimate']:.4g}, return {bias['mean_return']:.4g}) |",
    ]
    if "planning" in results:
        objective = results["planning"]["objective"]
        lines.append(
            f"| model-based J over iterations, state 0 (h = {results['planning']['horizon']}) | "
            + ", ".join(f"{value:.4g}" for value in objective)
            + " |"
        )
    lines.append("")
    lines += [f"![{FIGURES[name]}]({path})  \n{FIGURES[name]}\n" for name, path in results["figures"].items()]
    return "\n".join(lines)


def _state(states: Any, index: int) -> Any:
    if isinstance(states, dict):
        return {key: value[index] for key, value in states.items()}
    return states[index]


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL.zip", help="a saved model of the package or a stock SAC, TQC or CrossQ agent")
    parser.add_argument("--env", required=True, help="the environment id the model was trained on")
    parser.add_argument("--out", required=True, help="the folder for the figures, results.json and summary.md")
    parser.add_argument("--n-states", type=int, default=100, help="on-policy states (default 100)")
    parser.add_argument("--n-iterations", type=int, default=20, help="iterations of the improvement curve (default 20)")
    parser.add_argument("--adam-steps", type=int, default=500, help="Adam's budget in the comparison (default 500)")
    parser.add_argument("--cem-steps", type=int, default=1000, help="CEM's budget in the comparison (default 1000)")
    parser.add_argument(
        "--cem",
        choices=("actions", "lambda"),
        default="actions",
        help="the comparison's CEM: the paper's, over actions with a 0.01 step (default), or over λ, refit fully",
    )
    parser.add_argument("--n-runs", type=int, default=10, help="optimizations per state for the modes (default 10)")
    parser.add_argument("--dims", type=int, nargs="+", help="one or two action dimensions of the landscapes (default 0 1)")
    parser.add_argument("--resolution", type=int, default=41, help="landscape grid points per dimension (default 41)")
    parser.add_argument("--value-pairs", type=int, default=100, help="state-action pairs of the value bias (default 100)")
    parser.add_argument("--horizon", type=int, help="rollout steps of the value bias (default: γ^horizon < 1e-3)")
    parser.add_argument("--beta", type=float, help="β of J (default: the model's acting β; training β for the value bias)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: most batches here are small)")
    args = parser.parse_args(argv)
    import_extra("scipy", "analysis", "python -m sb3_iterative.analyze (the policy modes)")
    matplotlib.use("Agg")
    th.set_num_threads(args.threads)

    model = load_model(args.model, device=args.device)
    results = run_analyses(
        model, args.env, args.out, n_states=args.n_states, n_iterations=args.n_iterations, adam_steps=args.adam_steps,
        cem_steps=args.cem_steps, cem=args.cem, n_runs=args.n_runs, dims=tuple(args.dims) if args.dims else None,
        resolution=args.resolution, value_pairs=args.value_pairs, horizon=args.horizon, beta=args.beta, seed=args.seed,
    )  # fmt: skip
    results["model"]["path"] = str(args.model)
    write(results, args.out, title=Path(args.model).name)
    print(summary(results, Path(args.model).name))
    print(f"written to {args.out}: {', '.join(results['figures'].values())}, results.json, summary.md")


if __name__ == "__main__":
    main()
