"""The multiple-modes bed (paper Sec. 3.2, Fig. 2, 7): does a policy reach several equally good optimal actions?

Each agent trains on a :class:`sb3_iterative.envs.MultiModalBandit` (one step, r(a) = the highest of equal
Gaussian bumps on the modes), then acts from its one state 1 000 times with stochastic actions, as it collects
data. Reported per option and bed, over seeds: the mass of those actions near each mode
(``analysis.mode_mass``, sorted from the most visited mode down, so that a collapse on either mode reads the
same), the mean reward, the seeds whose policy put at least 5 % of its mass on two modes or more, and for the
iterative optimizer the distinct modes among 20 of its runs from the one state (``analysis.policy_modes``,
clustered at a radius of a third of the modes' distance), and its mass on the least visited mode once J is
changed at test time so that this mode is the one optimum (a term −8·‖a − m‖², ``analysis.ChangedObjective``),
with the trained K and with K + 20.

    python benchmarks/modes_bed.py --seeds 0 1 2 --timesteps 3000 --results logs/modes_bed.jsonl
    python benchmarks/modes_bed.py --figures benchmarks/figures/modes_bed     # Fig. 7 of two agents (seed 0)

Each run's result is appended to ``--results`` as it ends (a JSON line); runs already there are not run
again, and the table is printed from every run there of the requested beds and options, so a bed can be
extended by another invocation.

Small networks and a short budget (2 × 64, batch 128, learning rate 1e-3, α from 0.1, 500 random steps,
3 000 steps) keep a run to about half a minute on one core; the tests train the same way.
"""

import argparse
import json
import time
from datetime import date
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import SAC

from sb3_iterative import IterativeSAC, analysis
from sb3_iterative.analysis.modes import min_distance
from sb3_iterative.envs import MultiModalBandit, mode_centers

from speed import cpu_name  # benchmarks/speed.py, beside this script

SETTINGS = dict(learning_rate=1e-3, ent_coef="auto_0.1", batch_size=128, learning_starts=500)
NET_ARCH = [64, 64]
BEDS = {
    "2-D, 2 modes ±0.5·1": dict(action_dim=2, modes=mode_centers(2, 2)),
    "2-D, 2 modes ±(0.5, −0.5)": dict(action_dim=2, modes=np.array([[0.5, -0.5], [-0.5, 0.5]])),
    "2-D, 4 modes (corners)": dict(action_dim=2, modes=mode_centers(2, 4)),
    "6-D, 2 modes ±0.5·1": dict(action_dim=6, modes=mode_centers(6, 2)),
    # wider bumps: at w = 0.2 in 6-D a random action earns nearly nothing, and no agent learns in 3 000 steps
    "6-D, 2 modes ±0.5·1, w = 0.6": dict(action_dim=6, modes=mode_centers(6, 2), width=0.6),
}
LEVERS = dict(residual_update=True, init_mu_std=1.0, gradient_magnitude=True)  # "both" with residual updates
PERTURBATION = 8.0  # c_max of the training pulls: the changed J's c (CHANGE_COEF) lies within their range
# option: (algorithm, algorithm keywords, policy keywords)
OPTIONS = {
    "SAC": ("sac", {}, {}),
    "flow (β = 1)": ("iterative", dict(beta=1.0), dict(actor="flow")),
    "iterative, default": ("iterative", {}, {}),
    "iterative, init_mu_std=1": ("iterative", {}, dict(init_mu_std=1.0)),
    "iterative, gradient_magnitude": ("iterative", {}, dict(gradient_magnitude=True)),
    "iterative, both": ("iterative", {}, dict(init_mu_std=1.0, gradient_magnitude=True)),
    "iterative, N=10": ("iterative", {}, dict(n_action_samples=10)),
    "iterative, residual": ("iterative", {}, dict(residual_update=True)),
    "iterative, residual, init_mu_std=1": ("iterative", {}, dict(residual_update=True, init_mu_std=1.0)),
    "iterative, residual, both": ("iterative", {}, dict(residual_update=True, init_mu_std=1.0, gradient_magnitude=True)),
    # inputs that keep the blocks' mean and scale (issue: the layer norm erases the ±0.5·1 beds' axis)
    "iterative, symlog": ("iterative", {}, dict(input_normalization="symlog")),
    "iterative, residual, both, symlog": ("iterative", {}, dict(LEVERS, input_normalization="symlog")),
    # trained on perturbed objectives: random pulls −c·‖a − a*‖², c ~ U(0, 8), seen only through ∇_λ J
    "iterative, perturbed": ("iterative", {}, dict(objective_perturbation=PERTURBATION)),
    "iterative, symlog, perturbed": ("iterative", {}, dict(input_normalization="symlog", objective_perturbation=PERTURBATION)),
    "iterative, residual, both, symlog, perturbed": (
        "iterative",
        {},
        dict(LEVERS, input_normalization="symlog", objective_perturbation=PERTURBATION),
    ),
}
N_ACTIONS = 1000
MODE_SHARE = 0.05  # a mode is reached with at least this share of the actions
CHANGE_COEF = 8.0  # c of the changed objective: J at the other mode is then 1 − c·‖between modes‖² < 0


def train_and_measure(job: tuple[str, str, int, int]) -> tuple[str, str, int, dict]:
    option, bed, seed, timesteps = job
    th.set_num_threads(1)
    algorithm, algorithm_kwargs, policy_kwargs = OPTIONS[option]
    env = MultiModalBandit(**BEDS[bed])
    policy_kwargs = dict(net_arch=NET_ARCH, **policy_kwargs)
    cls = SAC if algorithm == "sac" else IterativeSAC
    start = time.time()
    model = cls("MlpPolicy", env, seed=seed, policy_kwargs=policy_kwargs, **SETTINGS, **algorithm_kwargs)
    model.learn(timesteps)
    state = np.ones(env.observation_space.shape, dtype=np.float32)
    mass = analysis.mode_mass(model, state, env.modes, n_samples=N_ACTIONS, seed=seed)
    actions = analysis.policy_actions(model, state, N_ACTIONS, seed=seed)
    result = dict(mass=mass.tolist(), reward=float(env.reward(actions).mean()), seconds=time.time() - start)
    if isinstance(model, IterativeSAC) and model.policy.iterative:
        radius = min_distance(env.modes) / 3
        runs = analysis.policy_modes(model, state[None], n_runs=20, seed=seed)
        result["run_modes"] = int(runs.n_modes(radius)[0])
        # J changed at test time: −c·‖a − m‖² makes the least visited mode m the one optimum
        least = int(np.argmin(mass))
        changed = analysis.ChangedObjective(model, analysis.action_target_penalty(CHANGE_COEF, env.modes[least]))
        trained = model.policy.n_iterations
        for extra in (0, 20):
            model.policy.n_iterations = trained + extra
            followed = analysis.mode_mass(changed, state, env.modes, n_samples=N_ACTIONS, seed=seed)[least]
            result[f"followed_k+{extra}"] = float(followed)
        model.policy.n_iterations = trained
        if not policy_kwargs.get("init_mu_std"):  # the same agent with random starts at test time only
            model.policy.init_mu_std = 1.0
            result["test_time_mass"] = analysis.mode_mass(model, state, env.modes, n_samples=N_ACTIONS, seed=seed).tolist()
            result["test_time_run_modes"] = int(
                analysis.policy_modes(model, state[None], n_runs=20, seed=seed).n_modes(radius)[0]
            )
    return option, bed, seed, result


def figures(out: Path, timesteps: int) -> None:
    """Fig. 7 (``analysis.plot_policy_modes``: 20 runs of the optimizer from the bed's one state) for the default
    optimizer and the three levers, trained on the first bed with seed 0, and for the optimizer with symlog inputs
    trained on perturbed objectives, on the mirror bed; and each one's gates on µ."""
    out.mkdir(parents=True, exist_ok=True)
    th.set_num_threads(1)
    state = np.ones((1, 1), dtype=np.float32)
    for name, option, bed in (
        ("default", "iterative, default", "2-D, 2 modes ±0.5·1"),
        ("levers", "iterative, residual, both", "2-D, 2 modes ±0.5·1"),
        ("symlog_perturbed", "iterative, symlog, perturbed", "2-D, 2 modes ±(0.5, −0.5)"),
    ):
        env = MultiModalBandit(**BEDS[bed])
        _, _, policy_kwargs = OPTIONS[option]
        model = IterativeSAC("MlpPolicy", env, seed=0, policy_kwargs=dict(net_arch=NET_ARCH, **policy_kwargs), **SETTINGS)
        model.learn(timesteps)
        figure = analysis.plot_policy_modes(model, state, n_runs=20)
        figure.suptitle(f"MultiModalBandit, modes at {bed.split('modes ')[1]}: {option}")
        figure.savefig(out / f"modes_{name}.png", dpi=100)
        # the gate ω on µ at each iteration (200 optimizations from the state): λ_k = ω ⊙ λ_{k−1} + (1 − ω) ⊙ δ
        agent = analysis.as_agent(model)
        obs = th.ones(200, 1)
        gates = th.stack(agent.amortized(obs, agent.bind(obs), agent.beta, agent.generator(0)).gates)
        gate_mu = gates[..., : env.action_space.shape[0]].mean(dim=(1, 2))
        print(f"{out / f'modes_{name}.png'}; mean gate on µ per iteration: {' '.join(f'{g:.3f}' for g in gate_mu.tolist())}")


def describe(masses: list[np.ndarray]) -> tuple[str, int]:
    """The mean over seeds of each seed's masses sorted from the largest, with what falls near no mode."""
    ordered = np.array([np.sort(np.asarray(mass))[::-1] for mass in masses])
    means = ordered.mean(axis=0)
    off = 1 - ordered.sum(axis=1).mean()
    reached = sum(int((np.asarray(mass) >= MODE_SHARE).sum() >= 2) for mass in masses)
    return " / ".join(f"{m:.2f}" for m in means) + f" (off {off:.2f})", reached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--results", default="logs/modes_bed.jsonl", help="JSON lines of every run (appended)")
    parser.add_argument("--options", nargs="+", default=list(OPTIONS), choices=list(OPTIONS))
    parser.add_argument("--beds", nargs="+", default=list(BEDS), choices=list(BEDS))
    parser.add_argument("--figures", default=None, help="only draw Fig. 7 of two agents into this folder")
    args = parser.parse_args()
    if args.figures:
        figures(Path(args.figures), args.timesteps)
        return
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    finished = {(run["option"], run["bed"], run["seed"]) for run in done if run["timesteps"] == args.timesteps}
    jobs = [
        (option, bed, seed, args.timesteps)
        for bed in args.beds
        for option in args.options
        for seed in args.seeds
        if (option, bed, seed) not in finished
    ]
    with Pool(args.workers) as pool, path.open("a") as results_file:
        for option, bed, seed, result in pool.imap(train_and_measure, jobs):
            run = dict(option=option, bed=bed, seed=seed, timesteps=args.timesteps, **result)
            results_file.write(json.dumps(run) + "\n")
            results_file.flush()
            done.append(run)
            print(f"{option}, {bed}, seed {seed}: {np.round(result['mass'], 3)} ({result['seconds']:.0f} s)", flush=True)
    results: dict[tuple[str, str], list[dict]] = {}
    for run in done:
        if run["timesteps"] == args.timesteps and run["seed"] in args.seeds:
            results.setdefault((run["option"], run["bed"]), []).append(run)

    machine = f"{date.today()}, {cpu_name()}, torch {th.__version__}"
    print(f"\nMultiModalBandit, {args.timesteps} steps, seeds {args.seeds}; {machine}\n")
    print("| bed | option | mass per mode, largest first (mean over seeds) | seeds on ≥ 2 modes | mean reward | "
          "modes among 20 runs of the optimizer | changed J: mass on its optimum, K / K + 20 |")  # fmt: skip
    print("|---|---|---|---:|---:|---|---|")
    for bed in args.beds:
        for option in args.options:
            found = results.get((option, bed))
            if not found:
                continue
            masses, reached = describe([r["mass"] for r in found])
            reward = np.mean([r["reward"] for r in found])
            runs = " / ".join(str(r["run_modes"]) for r in found) if "run_modes" in found[0] else "–"
            followed = "–"
            if "followed_k+0" in found[0]:
                followed = " / ".join(f"{np.mean([r[f'followed_k+{extra}'] for r in found]):.2f}" for extra in (0, 20))
            print(f"| {bed} | {option} | {masses} | {reached}/{len(found)} | {reward:.2f} | {runs} | {followed} |")
            if "test_time_mass" in found[0]:
                masses, reached = describe([r["test_time_mass"] for r in found])
                runs = " / ".join(str(r["test_time_run_modes"]) for r in found)
                name = f"{option}, init_mu_std=1 at test time only"
                print(f"| {bed} | {name} | {masses} | {reached}/{len(found)} | – | {runs} | – |")


if __name__ == "__main__":
    main()
