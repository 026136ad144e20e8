"""``python -m sb3_iterative.compare``: run a comparison sweep, or write its report.

    python -m sb3_iterative.compare --env HalfCheetah-v5 Hopper-v5 --algo sac iterative_sac --seeds 5 -n 300000 \\
        --workers 2 -f logs
    python -m sb3_iterative.compare --report -f logs --out report/

Exit status: 0 done, 1 some runs failed (their output is named), 2 bad input (nothing started),
130 interrupted (run the same command again to resume).
"""

import argparse
import signal
import sys
from collections.abc import Sequence

ALGOS_DEFAULT = ["sac", "iterative_sac"]


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sb3_iterative.compare",
        description="Compare IterativeSAC with SAC (and any rl-zoo3 algorithm) over environments and seeds: "
        "one rl-zoo3 run per (algorithm, environment, seed), resumable; or --report.",
    )
    parser.add_argument("-f", "--log-folder", default="logs", help="rl-zoo3 log folder of the runs (default: logs)")
    parser.add_argument("--env", nargs="+", default=[], help="environment ids (gymnasium), e.g. Pendulum-v1 HalfCheetah-v5")
    parser.add_argument(
        "--algo", nargs="+", default=None,
        help=f"rl-zoo3 algorithms, e.g. sac iterative_sac tqc crossq (default: {' '.join(ALGOS_DEFAULT)}; with --report: all)",
    )  # fmt: skip
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=int, default=5, help="number of seeds: seeds 1..N (default: 5, as the paper)")
    seeds.add_argument("--seed-list", type=int, nargs="*", help="the seeds themselves, e.g. --seed-list 0 7 42")
    parser.add_argument(
        "-n", "--n-timesteps", type=int, default=None,
        help="environment steps per run (default: the hyperparameter files' budget, which must agree among the algorithms)",
    )  # fmt: skip
    parser.add_argument(
        "--eval-freq", type=int, default=None, help="evaluate every this many environment steps (default: the budget / 20)"
    )
    parser.add_argument("--eval-episodes", type=int, default=5, help="deterministic episodes per evaluation (default: 5)")
    parser.add_argument(
        "--save-freq", type=int, default=-1,
        help="save a checkpoint of every run every this many steps (rl-zoo3's --save-freq; default: -1, none)",
    )  # fmt: skip
    parser.add_argument(
        "--params", "-params", nargs="+", default=[], metavar="KEY:VALUE",
        help="hyperparameter overrides for every algorithm, passed to rl-zoo3's -params "
        "(e.g. learning_starts:100 policy_kwargs:\"dict(net_arch=[64, 64])\")",
    )  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=None, help="runs training at once (default: the CPUs; with Ray: the cluster's)"
    )
    parser.add_argument(
        "--executor", choices=["local", "ray"], default="local",
        help="local: worker processes on this machine (default); ray: Ray tasks (pip install ray)",
    )  # fmt: skip
    parser.add_argument(
        "--address", default=None,
        help="Ray cluster for --executor ray: auto, ray://HEAD:10001, or local (a new Ray instance on this machine)",
    )  # fmt: skip
    parser.add_argument("--report", action="store_true", help="write the report of the runs in the log folder instead")
    parser.add_argument("--out", default="report", help="with --report: folder to write it to (default: report)")
    parser.add_argument(
        "--also", nargs="+", default=[], metavar="FOLDER",
        help="with --report: more folders whose runs join the log folder's (rl-zoo3 log folders, or earlier reports' "
        "folders with their runs.csv and curves.csv)",
    )  # fmt: skip
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.report:
        return report(args)
    return sweep(args)


def report(args: argparse.Namespace) -> int:
    try:
        from sb3_iterative.compare.report import write_report

        path = write_report([args.log_folder, *args.also], args.out, envs=args.env, algos=args.algo or ())
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def sweep(args: argparse.Namespace) -> int:
    from sb3_iterative.compare.executors import LocalExecutor, RayExecutor
    from sb3_iterative.compare.sweep import LogFolder, SweepError, plan, run_sweep

    seeds = args.seed_list if args.seed_list is not None else list(range(1, args.seeds + 1))
    try:
        if args.workers is not None and args.workers < 1:
            raise SweepError(f"--workers {args.workers}: at least 1")
        if args.address is not None and args.executor != "ray":
            raise SweepError("--address is for --executor ray")
        runs, notes = plan(
            args.env,
            args.algo or ALGOS_DEFAULT,
            seeds,
            args.n_timesteps,
            args.eval_freq,
            args.eval_episodes,
            args.params,
            args.save_freq,
        )
        for note in notes:
            print(f"note: {note}")
        try:
            executor = LocalExecutor(args.workers) if args.executor == "local" else RayExecutor(args.address, args.workers)
        except ImportError as error:
            raise SweepError(str(error)) from error
        # SIGTERM (kill, a batch scheduler) stops the sweep as Ctrl-C does: runs in training are
        # stopped, finished runs stay.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            failed = run_sweep(runs, LogFolder(args.log_folder), executor)
        finally:
            signal.signal(signal.SIGTERM, previous)
    except SweepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to train the others", file=sys.stderr)
        return 130
    if failed:
        print(f"{len(failed)} run(s) failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return 1
    print(f"done. report: python -m sb3_iterative.compare --report -f {args.log_folder} --out report")
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
