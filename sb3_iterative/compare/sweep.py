"""The sweep: one rl-zoo3 run per (algorithm, environment, seed), resumable after any interruption.

Each run is ``python -m sb3_iterative.train --algo ALGO --env ENV --seed S -n STEPS --eval-freq F
--eval-episodes E --num-threads 1 [-params ...]``: the package's hyperparameter files for ``sac``
and ``iterative_sac``, rl-zoo3's own for the others (``tqc``, ``crossq``, ...), and the same
evaluation schedule (every F steps, E deterministic episodes) for every algorithm of an
environment. The log folder keeps rl-zoo3's layout, so rl-zoo3's ``enjoy`` and plots read it::

    LOGDIR/ALGO/ENV_S/          the finished run of seed S, as rl-zoo3 wrote it: evaluations.npz,
                                0.monitor.csv, ENV.zip, best_model.zip, ENV/{config,args}.yml,
                                ENV/command.txt; and train.log (the run's output) and
                                compare.json (what the sweep asked, the wall time, the command)
    LOGDIR/.compare/running/ALGO/ENV/seed_S/    where the run trains (its ``-f``) until it ends
    LOGDIR/.compare/lock        held while a sweep works in LOGDIR

rl-zoo3 2.9.2 has no option to name a run's folder: it takes ``ENV_<highest number + 1>`` in the
log folder, a number that depends on what is already there and that two runs starting together
can both take. So each run trains alone in its own folder, and once it has finished (exit code
0 and the saved model at its full budget) ``compare.json`` is written into it (to a temporary
name, then renamed) and the whole folder is renamed to ``LOGDIR/ALGO/ENV_S``: the seed is the run
number. Both steps are single renames, so a run folder in ``LOGDIR/ALGO`` is always complete,
and an interrupted sweep leaves only its runs' training folders, which the next sweep deletes
before training those runs again from scratch. Runs already in ``LOGDIR/ALGO`` are skipped when
``compare.json`` records the settings asked now, and refused (before anything starts) otherwise.
"""

import contextlib
import difflib
import fcntl
import io
import json
import os
import platform
import shlex
import shutil
import sys
import zipfile
from argparse import Namespace
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import rl_zoo3.import_envs  # noqa: F401  (registers rl-zoo3's extra environments, as its train does)
import yaml
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.utils import ALGOS, EnvironmentName, StoreDict
from tqdm import tqdm

from sb3_iterative import zoo
from sb3_iterative.compare.executors import Executor, Outcome
from sb3_iterative.compare.layout import LOG_NAME, MARKER
from sb3_iterative.version import __version__

WORK_FOLDER = ".compare"
EVALUATIONS_PER_RUN = 20  # the default evaluation interval is the budget divided by this


class SweepError(Exception):
    """Bad input for a sweep, found before any run starts."""


@dataclass(frozen=True)
class Run:
    """One rl-zoo3 run: an algorithm trained on an environment with a seed, and how it is evaluated.

    ``params`` are the ``-params`` overrides as given (``key:value``, the value Python);
    ``hyperparams`` what they make of the algorithm's hyperparameter file entry for the
    environment: the settings asked, recorded in ``compare.json`` and compared on resume.
    """

    algo: str
    env: str
    seed: int
    n_timesteps: int
    eval_freq: int
    eval_episodes: int
    params: tuple[str, ...] = ()
    hyperparams: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    save_freq: int = -1  # a checkpoint every this many steps (rl-zoo3's --save-freq); -1: none

    def __str__(self) -> str:
        return f"{self.algo} {self.env} seed {self.seed}"

    def train_args(self) -> list[str]:
        """rl-zoo3 ``train`` arguments, all but ``-f``."""
        args = [
            "--algo", self.algo, "--env", self.env, "--seed", str(self.seed), "-n", str(self.n_timesteps),
            "--eval-freq", str(self.eval_freq), "--eval-episodes", str(self.eval_episodes), "--num-threads", "1",
        ]  # fmt: skip
        if self.save_freq > 0:
            args += ["--save-freq", str(self.save_freq)]
        return [*args, "-params", *self.params] if self.params else args

    def command(self, log_folder: Path) -> str:
        """The command that trains this run alone (into ``log_folder/ALGO/ENV_<next number>``)."""
        return shlex.join(["python", "-m", "sb3_iterative.train", *self.train_args(), "-f", str(log_folder)])

    def settings(self) -> dict[str, Any]:
        settings = {
            "algo": self.algo,
            "env": self.env,
            "seed": self.seed,
            "n_timesteps": self.n_timesteps,
            "eval_freq": self.eval_freq,
            "eval_episodes": self.eval_episodes,
            "hyperparams": self.hyperparams,
        }
        if self.save_freq > 0:
            settings["save_freq"] = self.save_freq
        return settings


def plan(
    envs: Sequence[str],
    algos: Sequence[str],
    seeds: Sequence[int],
    n_timesteps: int | None = None,
    eval_freq: int | None = None,
    eval_episodes: int = 5,
    params: Sequence[str] = (),
    save_freq: int = -1,
) -> tuple[list[Run], list[str]]:
    """The runs of a sweep, and notes for the user (an environment missing from a hyperparameter file).

    Raises :class:`SweepError` for an unknown environment or algorithm, no seeds, a negative seed,
    an unreadable ``params`` item, an environment no file has hyperparameters for, different
    budgets among the algorithms' files when ``n_timesteps`` is not given, or an evaluation
    interval outside the budget. Reads hyperparameter files only: nothing is written.

    :param n_timesteps: the budget of every run; None: each file's ``n_timesteps`` for the
        environment, which must then agree among the algorithms
    :param eval_freq: evaluation interval in environment steps; None: the budget / 20
    :param save_freq: save a checkpoint of every run every this many environment steps (-1: none)
    """
    zoo.register()
    envs, algos, seeds = _unique(envs), _unique(algos), _unique(seeds)
    problems = _argument_problems(envs, algos, seeds, n_timesteps, eval_episodes, save_freq)
    try:
        overrides = _read_params(params)
    except SweepError as error:
        problems.append(str(error))
    if problems:
        raise SweepError("\n".join(problems))

    notes: list[str] = []
    hyperparams = {}
    for env in envs:
        for algo in algos:
            try:
                hyperparams[algo, env] = _hyperparams(algo, env, overrides, notes)
            except ValueError as error:  # no entry for the environment and no `default`
                problems.append(f"{algo} on {env}: {error}")
    if problems:
        raise SweepError("\n".join(problems))

    runs = []
    for env in envs:
        budgets = {algo: hyperparams[algo, env].pop("n_timesteps", None) for algo in algos}
        if n_timesteps is None and (None in budgets.values() or len(set(budgets.values())) > 1):
            listed = ", ".join(f"{algo} {budget}" for algo, budget in budgets.items())
            problems.append(f"{env}: the hyperparameter files do not give one budget ({listed}): give -n")
            continue
        budget = n_timesteps or int(float(next(iter(budgets.values()))))
        interval = max(1, budget // EVALUATIONS_PER_RUN) if eval_freq is None else eval_freq
        if not 1 <= interval <= budget:
            problems.append(f"{env}: --eval-freq {interval} must be between 1 and the budget ({budget} steps)")
            continue
        runs += [
            Run(algo, env, seed, budget, interval, eval_episodes, tuple(params), hyperparams[algo, env], save_freq)
            for algo in algos
            for seed in seeds
        ]
    if problems:
        raise SweepError("\n".join(problems))
    return runs, notes


def _argument_problems(
    envs: list[str], algos: list[str], seeds: list[int], n_timesteps: int | None, eval_episodes: int, save_freq: int
) -> list[str]:
    """What is wrong with the sweep's arguments themselves, before any hyperparameter file is read."""
    problems = [f"unknown algorithm {algo!r}{_close_match(algo, ALGOS)}" for algo in algos if algo not in ALGOS]
    problems += [
        f"unknown environment {env!r} (not in gymnasium's registry){_close_match(env, gym.registry)}"
        for env in envs
        if env not in gym.registry
    ]
    if not envs:
        problems.append("no environment given (--env)")
    if not algos:
        problems.append("no algorithm given (--algo)")
    if not seeds:
        problems.append("the seed list is empty: give --seeds N (seeds 1..N) or --seed-list S [S ...]")
    problems += [f"seed {seed} is negative (rl-zoo3 would draw a random seed)" for seed in seeds if seed < 0]
    if n_timesteps is not None and n_timesteps < 1:
        problems.append(f"-n {n_timesteps}: the budget must be at least 1 step")
    if eval_episodes < 1:
        problems.append(f"--eval-episodes {eval_episodes}: at least 1 episode per evaluation")
    if save_freq == 0 or save_freq < -1:
        problems.append(f"--save-freq {save_freq}: a number of steps >= 1 (or -1: no checkpoints)")
    return problems


def _unique(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def _close_match(name: str, names: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, list(names), n=1)
    return f": did you mean {matches[0]!r}?" if matches else ""


def _read_params(params: Sequence[str]) -> dict[str, Any]:
    """``key:value`` items as rl-zoo3's ``-params`` reads them (the value is Python)."""
    for item in params:
        if ":" not in item:
            raise SweepError(f"--params {item!r}: expected key:value, as rl-zoo3's -params (e.g. learning_starts:100)")
    namespace = Namespace()
    try:
        StoreDict(option_strings=["-params"], dest="params")(None, namespace, params)
    except Exception as error:
        raise SweepError(f"--params: a value is not valid Python ({type(error).__name__}: {error})") from error
    return namespace.params


def _hyperparams(algo: str, env: str, overrides: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """The hyperparameters rl-zoo3 will use for ``algo`` on ``env`` (the file's entry, with the
    overrides), in JSON form; adds a note when the file has no entry for the environment."""
    manager = ExperimentManager(
        Namespace(), algo, env, log_folder=os.devnull, hyperparams=dict(overrides),
        config=None if zoo.hyperparams_file(algo) is None else str(zoo.hyperparams_file(algo)),
    )  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        hyperparams, _ = manager.read_hyperparameters()
    if "Using 'default' hyperparameters" in printed.getvalue():
        listed = yaml.safe_load(Path(manager.config).read_text())
        older = [name for name in listed if name.rsplit("-v", 1)[0] == env.rsplit("-v", 1)[0]]
        also = f" (it lists {', '.join(older)}: rl-zoo3's files name the MuJoCo tasks by their v4 ids)" if older else ""
        notes.append(f"{algo} on {env}: no entry in {manager.config}{also}; its `default` entry is used")
    return json.loads(json.dumps(hyperparams, sort_keys=True, default=repr))


class LogFolder:
    """A sweep's log folder (see the module's docstring for its layout)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).absolute()
        self.work = self.root / WORK_FOLDER
        self.training = self.work / "running"

    def run_folder(self, run: Run) -> Path:
        return self.root / run.algo / f"{EnvironmentName(run.env)}_{run.seed}"

    def training_folder(self, run: Run) -> Path:
        return self.training / run.algo / str(EnvironmentName(run.env)) / f"seed_{run.seed}"

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Held while a sweep works here: a second sweep in the same folder would delete the
        first one's runs in training. The lock goes with the process, however it ends."""
        self.work.mkdir(parents=True, exist_ok=True)
        with open(self.work / "lock", "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                raise SweepError(f"another sweep is working in {self.root} (pid {lock.read().strip()})") from None
            lock.truncate(0)
            lock.write(str(os.getpid()))
            lock.flush()
            yield

    def finished(self, runs: Sequence[Run]) -> list[Run]:
        """The runs already finished here with the settings asked. Raises :class:`SweepError` if a
        run's folder holds a run made otherwise, or one this harness did not make."""
        finished, problems = [], []
        for run in runs:
            folder = self.run_folder(run)
            if not folder.exists():
                continue
            if not (folder / MARKER).is_file():
                problems.append(f"{folder} exists but was not made by this sweep runner (no {MARKER}): move it away")
                continue
            made = json.loads((folder / MARKER).read_text())["settings"]
            differences = _differences(made, run.settings())
            if differences:
                problems.append(f"{folder} was made with other settings than asked now: {'; '.join(differences)}")
            else:
                finished.append(run)
        if problems:
            raise SweepError(
                "\n".join(problems) + f"\nUse another log folder (-f), or the settings of the runs in {self.root}."
            )
        return finished

    def publish(self, run: Run, outcome: Outcome) -> Path:
        """Move a run that has ended into its place as a finished run (see the module's docstring).
        Raises RuntimeError if it did not finish: an exit code other than 0, or not its whole budget."""
        training = self.training_folder(run)
        if outcome.returncode != 0:
            lines = (training / LOG_NAME).read_text(errors="replace").strip().splitlines()
            raise RuntimeError(f"exit code {outcome.returncode}: {lines[-1] if lines else 'no output'}")
        trained = next((training / run.algo).glob(f"{EnvironmentName(run.env)}_*"), None)
        model = None if trained is None else trained / f"{EnvironmentName(run.env)}.zip"
        if trained is None or model is None or not model.is_file() or not (trained / "evaluations.npz").is_file():
            raise RuntimeError("exit code 0, but the final model or evaluations.npz is missing")
        steps = json.loads(zipfile.ZipFile(model).read("data"))["num_timesteps"]
        if steps < run.n_timesteps:
            raise RuntimeError(f"the model stopped after {steps} of {run.n_timesteps} steps")
        (training / LOG_NAME).replace(trained / LOG_NAME)
        record = {
            "settings": run.settings(),
            "command": run.command(self.root),
            "wall_time_s": outcome.wall_time,
            "started": datetime.fromtimestamp(outcome.started, timezone.utc).isoformat(timespec="seconds"),
            "host": platform.node(),
            "sb3_iterative": __version__,
        }
        temporary = trained / f"{MARKER}.tmp"
        temporary.write_text(json.dumps(record, indent=2) + "\n")
        temporary.replace(trained / MARKER)
        destination = self.run_folder(run)
        destination.parent.mkdir(parents=True, exist_ok=True)
        trained.rename(destination)
        shutil.rmtree(training)
        return destination


def _differences(made: dict[str, Any], asked: dict[str, Any]) -> list[str]:
    differences = [
        f"{key} {made.get(key)!r} (asked: {asked[key]!r})"
        for key in asked
        if key != "hyperparams" and made.get(key) != asked[key]
    ]
    made_hp, asked_hp = made.get("hyperparams", {}), asked["hyperparams"]
    differences += [
        f"{key} {made_hp.get(key, '<unset>')!r} (asked: {asked_hp.get(key, '<unset>')!r})"
        for key in sorted(set(made_hp) | set(asked_hp))
        if made_hp.get(key) != asked_hp.get(key)
    ]
    return differences


class Progress:
    """One line per run that ends, and a bar over the environment steps of the runs to train, with the time left."""

    def __init__(self, runs: Sequence[Run], total_runs: int, done_runs: int) -> None:
        self.total_runs, self.done_runs = total_runs, done_runs
        self.steps = {run: 0 for run in runs}
        # smoothing=0: the time left from the average speed since the start, not from the last
        # few updates, which come in bursts (each run reports every few episodes).
        self.bar = tqdm(
            total=sum(run.n_timesteps for run in runs), unit="step", unit_scale=True, smoothing=0,
            mininterval=1.0, desc="sweep", dynamic_ncols=True,
        )  # fmt: skip
        self._postfix()

    def advance(self, run: Run, steps: int) -> None:
        steps = min(steps, run.n_timesteps)
        if steps > self.steps[run]:
            self.bar.update(steps - self.steps[run])
            self.steps[run] = steps

    def ended(self, run: Run, line: str) -> None:
        self.advance(run, run.n_timesteps)
        self.done_runs += 1
        self.bar.write(f"[{self.done_runs}/{self.total_runs}] {line}", file=sys.stdout)
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"runs {self.done_runs}/{self.total_runs}")

    def close(self) -> None:
        self.bar.close()


def run_sweep(runs: Sequence[Run], log_folder: LogFolder, executor: Executor) -> list[Run]:
    """Train the runs not finished yet in ``log_folder``; return those that failed.

    Raises :class:`SweepError` before anything starts if the folder holds runs made with other
    settings (see :meth:`LogFolder.finished`) or another sweep is working in it.
    """
    with log_folder.locked():
        finished = log_folder.finished(runs)
        to_train = [run for run in runs if run not in finished]
        skipped = f"{len(finished)} already finished in {log_folder.root} (skipped)"
        print(f"{len(runs)} runs: {skipped}, {len(to_train)} to train")
        # Whatever is in training folders was cut off by an interrupted sweep (the lock says no
        # other sweep is running): it restarts from scratch.
        shutil.rmtree(log_folder.training, ignore_errors=True)
        progress = Progress(to_train, len(runs), len(finished))
        failed = []
        try:
            with contextlib.closing(executor.run(to_train, log_folder.training_folder, progress.advance)) as ended:
                for run, outcome in ended:
                    try:
                        folder = log_folder.publish(run, outcome)
                    except RuntimeError as error:
                        failed.append(run)
                        log = log_folder.training_folder(run) / LOG_NAME  # kept until the next sweep
                        progress.ended(run, f"FAILED {run}: {error} (output: {log})")
                        continue
                    final = np.load(folder / "evaluations.npz")["results"][-1].mean()
                    steps = f"{run.n_timesteps} steps in {outcome.wall_time:.0f} s"
                    progress.ended(run, f"{run}: final return {final:.1f}, {steps} -> {folder}")
        finally:
            progress.close()
        if not failed:
            shutil.rmtree(log_folder.training, ignore_errors=True)
    return failed
