"""Speed of IterativeSAC against SB3's SAC, measured in one run: a markdown table.

For SAC, IterativeSAC at K ∈ {1, 5} and N ∈ {1, 10}, the flow-policy baseline (``flow_sac``), TQC and
IterativeTQC, and CrossQ and IterativeCrossQ (at CrossQ's default critics, 2 × 1024, and at 2 × 256, the
width of the CPU comparisons) on HalfCheetah-v5 (one torch thread):
- the training step, ``model.train(1, batch_size=256)`` on a filled buffer (``--gradient-steps``
  steps per round, the configurations taking turns step by step), and its ratio to SAC's (of the
  medians of every timed step);
- acting latency, ``model.predict`` on one observation (stochastic, as in data collection);
- environment steps per second in ``learn()`` once learning has started (``--learn-steps`` per
  round, in ``--learn-chunks`` chunks, the configurations taking turns chunk by chunk), and its
  ratio to SAC's: the median over rounds of each round's ratio.
The model-based configurations are also compared with the model-free IterativeSAC (K = 5, N = 1)
in a second table (their step includes the model's update and, for the iterative actor, the
distillation; the model's 1 000 pre-training updates fall in the warm-up, not in the timings).
Each iterative algorithm is also compared with its base in a third table (IterativeSAC ÷ SAC, IterativeTQC
÷ TQC, IterativeCrossQ ÷ CrossQ): there the training step is the mean over each round's steps (CrossQ's
actor trains every third step: give ``--gradient-steps`` a multiple of 3), median over rounds.
``compile_training`` (each gradient step's updates through torch.compile) is timed for IterativeSAC and for SAC
itself (IterativeSAC's direct actor with β = 1, SAC bit for bit): "SAC, compiled" and "IterativeSAC K=5 N=1,
compiled" (torch.compile's default mode), and with CUDA graphs, the "... compiled reduce-overhead" pair (named
only: not in the default list). A compiled configuration compiles in its first round's warm-up step and its first
``predict`` (``compile_acting``): read the medians over rounds.
Measurements go round-robin over the configurations and the median is reported (of every timed
training step, and of the rounds for the rest), so that the machine's load falls on all of them alike.

    python benchmarks/speed.py                      # about 5 minutes on 2 cores
    python benchmarks/speed.py --rounds 5 --env Pendulum-v1
    python benchmarks/speed.py --configurations "IterativeSAC K=5 N=1"      # SAC and one configuration
    python benchmarks/speed.py --gradient-steps 30 --configurations "IterativeSAC K=5 N=1" CrossQ \
        "IterativeCrossQ K=5 N=1" "CrossQ, critics 2 x 256" "IterativeCrossQ K=5 N=1, critics 2 x 256"
"""

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date
from typing import NamedTuple

import torch as th
from sb3_contrib import TQC, CrossQ
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_iterative import IterativeCrossQ, IterativeSAC, IterativeTQC

# CrossQ's critics at the width of the CPU comparisons (its default is 2 x 1024, rl-zoo3's MuJoCo files' 2 x 2048)
NARROW_CROSSQ = dict(net_arch=dict(pi=[256, 256], qf=[256, 256]))

CONFIGURATIONS: dict[str, tuple[type[BaseAlgorithm], dict]] = {
    "SAC": (SAC, {}),
    "IterativeSAC K=1 N=1": (IterativeSAC, dict(n_iterations=1, n_action_samples=1)),
    "IterativeSAC K=5 N=1": (IterativeSAC, dict(n_iterations=5, n_action_samples=1)),
    "IterativeSAC K=1 N=10": (IterativeSAC, dict(n_iterations=1, n_action_samples=10)),
    "IterativeSAC K=5 N=10": (IterativeSAC, dict(n_iterations=5, n_action_samples=10)),
    "IterativeSAC K=5 N=1, compile_acting": (IterativeSAC, dict(n_iterations=5, n_action_samples=1, compile_acting=True)),
    # the options on a distilled direct policy (beyond the paper): the critic's target from it, and a warm start
    "IterativeSAC K=5 N=1, distilled target": (IterativeSAC, dict(n_iterations=5, n_action_samples=1, distilled_target=True)),
    "IterativeSAC K=2 N=1, warm start": (IterativeSAC, dict(n_iterations=2, n_action_samples=1, warm_start=True)),
    # the optimizer's levers (beyond the paper): random λ_0, the gradients' magnitudes and signs, residual updates
    "IterativeSAC K=5 N=1, random λ_0 + gradient magnitude + residual": (
        IterativeSAC,
        dict(n_iterations=5, n_action_samples=1, init_mu_std=1.0, gradient_magnitude=True, residual_update=True),
    ),
    # the model-based value estimate (h = 2, Retrace λ = 0.9): iterative, and SAC's direct actor (β = 1)
    "IterativeSAC K=5 N=1, model-based h=2": (IterativeSAC, dict(n_iterations=5, n_action_samples=1, value_estimator="model")),
    "IterativeSAC K=5 N=1, model-based h=2, compile_acting": (
        IterativeSAC,
        dict(n_iterations=5, n_action_samples=1, value_estimator="model", compile_acting=True),
    ),
    "IterativeSAC K=5 N=1, model-based h=2, compiled": (
        IterativeSAC,
        dict(n_iterations=5, n_action_samples=1, value_estimator="model", compile_acting=True),
    ),
    "direct actor, model-based h=2": (IterativeSAC, dict(actor="direct", value_estimator="model")),
    # the flow-policy baseline (flow_sac.yml): SAC with two 2 x 256 inverse autoregressive transforms
    "flow policy (flow_sac)": (IterativeSAC, dict(actor="flow")),
    # IterativeTQC (beyond the paper) against sb3-contrib's TQC: 2 critics × 25 quantiles, 2 dropped per critic
    "TQC": (TQC, {}),
    "IterativeTQC K=5 N=1": (IterativeTQC, dict(n_iterations=5, n_action_samples=1)),
    # IterativeCrossQ (beyond the paper) against sb3-contrib's CrossQ: the actor every 3 critic updates
    "CrossQ": (CrossQ, {}),
    "IterativeCrossQ K=5 N=1": (IterativeCrossQ, dict(n_iterations=5, n_action_samples=1)),
    "CrossQ, critics 2 x 256": (CrossQ, NARROW_CROSSQ),
    "IterativeCrossQ K=5 N=1, critics 2 x 256": (IterativeCrossQ, dict(NARROW_CROSSQ, n_iterations=5, n_action_samples=1)),
    # what K costs on CrossQ (NAMED_ONLY)
    "IterativeCrossQ K=1 N=1, critics 2 x 256": (IterativeCrossQ, dict(NARROW_CROSSQ, n_iterations=1, n_action_samples=1)),
    "IterativeCrossQ K=2 N=1, critics 2 x 256": (IterativeCrossQ, dict(NARROW_CROSSQ, n_iterations=2, n_action_samples=1)),
    # compile_training: IterativeSAC, and SAC itself compiled (IterativeSAC's direct actor with β = 1 is SAC bit for bit)
    "SAC, compiled": (IterativeSAC, dict(actor="direct")),
    "IterativeSAC K=5 N=1, compiled": (IterativeSAC, dict(n_iterations=5, n_action_samples=1)),
    "SAC, compiled reduce-overhead": (IterativeSAC, dict(actor="direct")),
    "IterativeSAC K=5 N=1, compiled reduce-overhead": (IterativeSAC, dict(n_iterations=5, n_action_samples=1)),
}
# Each iterative configuration and its base, for the table of ratios per base
BASES = {
    "IterativeSAC K=5 N=1": "SAC",
    "IterativeTQC K=5 N=1": "TQC",
    "IterativeCrossQ K=5 N=1": "CrossQ",
    "IterativeCrossQ K=5 N=1, critics 2 x 256": "CrossQ, critics 2 x 256",
    "IterativeCrossQ K=1 N=1, critics 2 x 256": "CrossQ, critics 2 x 256",
    "IterativeCrossQ K=2 N=1, critics 2 x 256": "CrossQ, critics 2 x 256",
    "IterativeSAC K=5 N=1, compiled": "SAC, compiled",
    "IterativeSAC K=5 N=1, compiled reduce-overhead": "SAC, compiled reduce-overhead",
}
# IterativeSAC's β for the direct actors, as its hyperparameter files give it (1: SAC's min over two critics)
BETA = {
    "direct actor, model-based h=2": 1.0,
    "flow policy (flow_sac)": 1.0,
    "SAC, compiled": 1.0,
    "SAC, compiled reduce-overhead": 1.0,
}
# The configurations that compile their training step, and torch.compile's mode for each (True: its default)
COMPILE_TRAINING = {
    "IterativeSAC K=5 N=1, model-based h=2, compiled": True,
    "SAC, compiled": True,
    "IterativeSAC K=5 N=1, compiled": True,
    "SAC, compiled reduce-overhead": "reduce-overhead",
    "IterativeSAC K=5 N=1, compiled reduce-overhead": "reduce-overhead",
}
MODEL_FREE = "IterativeSAC K=5 N=1"
# Measured only when named (besides CUDA graphs' "reduce-overhead" pairs): what K costs on CrossQ
NAMED_ONLY = ("IterativeCrossQ K=1 N=1, critics 2 x 256", "IterativeCrossQ K=2 N=1, critics 2 x 256")


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def seconds_per_call(function: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


class Timings(NamedTuple):
    """Every measurement of every configuration, in seconds (steps per second for ``learn``), one entry per
    timed training step and one per round for the rest."""

    train: dict[str, list[float]]
    act: dict[str, list[float]]
    steps_per_second: dict[str, list[float]]

    def mean_step(self, name: str, steps_per_round: int) -> float:
        """The mean training step of each round (every step counts, an actor's delayed one too), median over rounds."""
        steps = self.train[name]
        rounds = [steps[start : start + steps_per_round] for start in range(0, len(steps), steps_per_round)]
        return statistics.median(statistics.fmean(timed) for timed in rounds)

    def slowdown(self, name: str, base: str) -> float:
        """The median over rounds of base's learn() steps/s over name's, each round's pair measured side by side."""
        pairs = zip(self.steps_per_second[base], self.steps_per_second[name], strict=True)
        return statistics.median(base_steps / steps for base_steps, steps in pairs)


def build(names: list[str], env: str, device: str) -> dict[str, BaseAlgorithm]:
    """The configurations, each with a buffer of 1 000 random steps and learning about to start."""
    models: dict[str, BaseAlgorithm] = {}
    for name in names:
        algorithm, policy_kwargs = CONFIGURATIONS[name]
        extra = dict(beta=BETA[name]) if name in BETA else {}
        if name in COMPILE_TRAINING:
            extra["compile_training"] = COMPILE_TRAINING[name]
        model = algorithm(
            "MlpPolicy",
            env,
            learning_starts=1000,
            batch_size=256,
            seed=0,
            device=device,
            policy_kwargs=policy_kwargs or None,
            **extra,
        )
        model.learn(1000)  # random actions fill the buffer without training
        models[name] = model
    return models


def measure(
    models: dict[str, BaseAlgorithm], args: argparse.Namespace, after_round: Callable[[Timings, int], None] | None = None
) -> Timings:
    """Round-robin over the configurations: a slow phase of a shared machine falls on all of them alike.
    ``after_round`` receives the timings so far and the number of rounds done, after each round."""
    timings = Timings(
        train={name: [] for name in models}, act={name: [] for name in models}, steps_per_second={name: [] for name in models}
    )
    for done in range(args.rounds):
        for model in models.values():
            model.train(1, batch_size=256)  # warm-up
        # one training step of each configuration in turn
        for _ in range(args.gradient_steps):
            for name, model in models.items():
                timings.train[name].append(seconds_per_call(lambda m=model: m.train(1, 256), 1))
        for name, model in models.items():
            obs = model.get_env().reset()
            timings.act[name].append(seconds_per_call(lambda m=model, o=obs: m.predict(o), args.predict_calls))
        # learn() in chunks taken in turns
        chunk = args.learn_steps // args.learn_chunks
        seconds = dict.fromkeys(models, 0.0)
        for _ in range(args.learn_chunks):
            for name, model in models.items():
                seconds[name] += seconds_per_call(lambda m=model, n=chunk: m.learn(n, reset_num_timesteps=False), 1)
        for name in models:
            timings.steps_per_second[name].append(chunk * args.learn_chunks / seconds[name])
        if after_round is not None:
            after_round(timings, done + 1)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin repetitions (median reported)")
    parser.add_argument("--gradient-steps", type=int, default=10, help="training steps timed per round (each alone)")
    parser.add_argument("--predict-calls", type=int, default=200)
    parser.add_argument("--learn-steps", type=int, default=200, help="environment steps timed in learn() per round")
    parser.add_argument(
        "--learn-chunks", type=int, default=4, help="learn() calls each round's steps are split into, taken in turns"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--report-each-round",
        action="store_true",
        help="print the tables after every round, not only at the end (a run cut by a time limit keeps its rounds)",
    )
    parser.add_argument(
        "--configurations",
        nargs="+",
        choices=list(CONFIGURATIONS),
        default=[name for name in CONFIGURATIONS if "reduce-overhead" not in name and name not in NAMED_ONLY],
        help="the configurations to measure (default: all; SAC, and the base of each iterative one, are always measured)",
    )
    args = parser.parse_args()
    if not 1 <= args.learn_chunks <= args.learn_steps:
        parser.error(f"--learn-chunks must be between 1 and --learn-steps ({args.learn_steps}), got {args.learn_chunks}")
    th.set_num_threads(1)

    names = ["SAC"]
    for name in args.configurations:
        names += [extra for extra in (BASES.get(name), name) if extra is not None and extra not in names]
    models = build(names, args.env, args.device)

    # torch.compile compiles on the first call of each acting mode (stochastic, deterministic)
    compile_seconds: dict[str, tuple[float, float]] = {}
    for name, model in models.items():
        if getattr(model.policy, "compile_acting", False):
            obs = model.get_env().reset()
            compile_seconds[name] = (
                seconds_per_call(lambda m=model, o=obs: m.predict(o), 1),
                seconds_per_call(lambda m=model, o=obs: m.predict(o, deterministic=True), 1),
            )

    def after_round(timings: Timings, rounds: int) -> None:
        if rounds < args.rounds:
            report(timings, models, args, compile_seconds, rounds)

    timings = measure(models, args, after_round if args.report_each_round else None)
    report(timings, models, args, compile_seconds, args.rounds)


def report(
    timings: Timings,
    models: dict[str, BaseAlgorithm],
    args: argparse.Namespace,
    compile_seconds: dict[str, tuple[float, float]],
    rounds: int,
) -> None:
    """The tables of the first ``rounds`` rounds."""
    sac_train = statistics.median(timings.train["SAC"])
    print(
        f"{args.env}, batch 256, device {args.device}, {th.get_num_threads()} torch thread; {cpu_name()}, "
        f"{platform.system()}, torch {th.__version__}; {date.today()}; median of {rounds} round{'s' * (rounds != 1)}"
        + (f" (of {args.rounds}: the tables so far)" if rounds < args.rounds else "")
        + "\n"
    )
    print("| configuration | training step (ms) | × SAC | predict, 1 obs (ms) | learn() env steps/s | ÷ SAC |")
    print("|---|---|---|---|---|---|")
    for name in models:
        train = statistics.median(timings.train[name])
        act = statistics.median(timings.act[name])
        steps = statistics.median(timings.steps_per_second[name])
        print(
            f"| {name} | {train * 1e3:.1f} | {train / sac_train:.2f} | {act * 1e3:.3f} | {steps:.0f} | "
            f"{timings.slowdown(name, 'SAC'):.2f} |"
        )

    for name, (stochastic, deterministic) in compile_seconds.items():
        print(f"\n{name}: the first predict compiles, {stochastic:.1f} s (stochastic), {deterministic:.1f} s (deterministic)")

    pairs = [(name, base) for name, base in BASES.items() if name in models and base in models]
    if pairs:
        print("\nEach iterative algorithm against its base (same run; the training step: the mean of each round's steps):\n")
        print("| configuration | base | training step (ms) | base (ms) | × base | learn() ÷ base |")
        print("|---|---|---|---|---|---|")
        for name, base in pairs:
            step, base_step = timings.mean_step(name, args.gradient_steps), timings.mean_step(base, args.gradient_steps)
            print(
                f"| {name} | {base} | {step * 1e3:.1f} | {base_step * 1e3:.1f} | {step / base_step:.2f} | "
                f"{timings.slowdown(name, base):.2f} |"
            )

    if MODEL_FREE not in models or not any("model-based" in name for name in models):
        print(flush=True)
        return
    free_train = statistics.median(timings.train[MODEL_FREE])
    print(f"\nThe model-based value estimate against the model-free {MODEL_FREE} (same run):\n")
    print("| configuration | training step × model-free | predict, 1 obs (ms) | learn() ÷ model-free |")
    print("|---|---|---|---|")
    for name in models:
        if "model-based" in name:
            train, act = statistics.median(timings.train[name]), statistics.median(timings.act[name])
            print(f"| {name} | {train / free_train:.2f} | {act * 1e3:.3f} | {timings.slowdown(name, MODEL_FREE):.2f} |")
    print(flush=True)


if __name__ == "__main__":
    main()
