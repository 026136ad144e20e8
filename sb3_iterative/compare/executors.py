"""Where the runs of a sweep train: a pool of local worker processes, or Ray tasks.

Every run is one process of ``python -m sb3_iterative.train <rl-zoo3 arguments> -f FOLDER`` (see
:class:`Training`) with one torch thread, its output in ``FOLDER/train.log``. An executor takes
the runs to train and, for each, the folder it trains in, and yields each run with its
:class:`Outcome` as it ends, in any order. Closing the generator (the sweep is interrupted)
stops the runs still training: nothing of theirs is kept, and the sweep trains them again from
scratch when it resumes.

- :class:`LocalExecutor` keeps ``workers`` training processes running on this machine.
- :class:`RayExecutor` makes each run a Ray task (one CPU) on a Ray cluster, or on a local Ray
  instance. The task trains in a temporary folder on whichever node runs it and sends the
  finished run folder back to the sweep as an archive, so the nodes need no shared file system:
  only the same Python environment (this package and its dependencies).
"""

import ctypes
import io
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from sb3_iterative.compare.layout import LOG_NAME
from sb3_iterative.extras import import_extra

# One thread per run: the runs are the parallelism. Set before the process starts, so that every
# library's thread pool (OpenMP, MKL, OpenBLAS) is sized by it; `--num-threads 1` sets torch's.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
# Progress while a run trains, from its output: SB3's log table and rl-zoo3's evaluations.
STEPS_PATTERN = re.compile(rb"total_timesteps\s*\|\s*(\d+)|Eval num_timesteps=(\d+)")
POLL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Outcome:
    """How a run's training process ended."""

    returncode: int
    started: float  # Unix time when the process started
    wall_time: float  # seconds from the process's start to its end


class Executor(Protocol):
    def run(
        self, runs: Sequence[Any], folder_of: Callable[[Any], Path], progress: Callable[[Any, int], None]
    ) -> Generator[tuple[Any, Outcome], None, None]:
        """Train each run (``run.train_args()``: its rl-zoo3 arguments) into ``folder_of(run)``; yield
        each run and its outcome as it ends. ``progress(run, steps)`` reports steps done so far."""
        ...


def _die_with_parent(parent: int, prctl: Callable[[int, int], int]) -> None:
    """In the child, before it runs Python: the kernel kills it when the process that started it
    dies, however that dies (even by SIGKILL), so an interrupted sweep leaves no run training on."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(1)


class Training:
    """One run training in a child process: ``python -m sb3_iterative.train ARGS -f FOLDER``, in
    ``FOLDER`` (where MuJoCo writes its log), output (stdout and stderr) to ``FOLDER/train.log``.

    The child has its own session, so a Ctrl-C in the terminal reaches the sweep alone (rl-zoo3
    would catch it, save the half-trained model and exit as if it had finished), and
    :meth:`kill` stops the child with any process it started (``--vec-env subproc``).
    """

    def __init__(self, run_args: Sequence[str], folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / LOG_NAME
        self.started = time.time()
        self._start = time.perf_counter()
        self._log_offset = 0
        self.steps = 0
        preexec = None
        if sys.platform == "linux":
            # Looked up here: the child should only call it between fork and exec.
            preexec = partial(_die_with_parent, os.getpid(), ctypes.CDLL(None, use_errno=True).prctl)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "sb3_iterative.train", *run_args, "-f", str(folder)],
                cwd=folder,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **ONE_THREAD},
                start_new_session=True,
                preexec_fn=preexec,
            )

    def steps_done(self) -> int:
        """Environment steps done so far, as the run's output last reported them."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_offset)
            text = log.read()
        complete = text.rfind(b"\n") + 1  # a line still being written is read next time
        self._log_offset += complete
        for match in STEPS_PATTERN.finditer(text[:complete]):
            self.steps = max(self.steps, int(match.group(1) or match.group(2)))
        return self.steps

    def poll(self) -> Outcome | None:
        returncode = self.process.poll()
        return None if returncode is None else self._outcome(returncode)

    def wait(self) -> Outcome:
        return self._outcome(self.process.wait())

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()

    def _outcome(self, returncode: int) -> Outcome:
        return Outcome(returncode, self.started, time.perf_counter() - self._start)


class LocalExecutor:
    """``workers`` runs training at once on this machine, each its own process with one thread."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def run(
        self, runs: Sequence[Any], folder_of: Callable[[Any], Path], progress: Callable[[Any, int], None]
    ) -> Generator[tuple[Any, Outcome], None, None]:
        waiting = deque(runs)
        training: dict[Any, Training] = {}
        try:
            while waiting or training:
                while waiting and len(training) < self.workers:
                    run = waiting.popleft()
                    training[run] = Training(run.train_args(), folder_of(run))
                time.sleep(POLL_SECONDS)
                for run, child in list(training.items()):
                    progress(run, child.steps_done())
                    outcome = child.poll()
                    if outcome is not None:
                        del training[run]
                        yield run, outcome
        finally:
            for child in training.values():
                child.kill()


def train_in_temporary_folder(run_args: Sequence[str]) -> tuple[Outcome, bytes]:
    """A Ray task: train one run in a temporary folder of the node it runs on; return its outcome
    and the folder as a gzipped tar archive (the sweep unpacks it where the run belongs)."""
    with tempfile.TemporaryDirectory(prefix="sb3_iterative-") as folder:
        outcome = Training(run_args, Path(folder)).wait()
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            tar.add(folder, arcname=".")
        return outcome, archive.getvalue()


def unpack(archive: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(folder, filter="data")


class RayExecutor:
    """Each run a Ray task with one CPU, at most ``workers`` in flight (default: the cluster's CPUs).
    A run's progress is known when it ends.

    :param address: the Ray cluster, as ``ray.init(address=...)`` takes it: ``"auto"`` (a cluster
        started on this machine with ``ray start``), ``"ray://HEAD:10001"`` (Ray Client),
        ``"local"`` (a new Ray instance on this machine, stopped at the end, with ``workers``
        CPUs), or None (Ray's own choice: ``RAY_ADDRESS``, a running cluster, or a new instance).
    """

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        if not hasattr(tarfile, "data_filter"):  # unpacking a run safely needs tarfile's extraction filters
            raise RuntimeError(
                "--executor ray needs Python >= 3.10.12 or >= 3.11.4 (tarfile's extraction filters, to unpack the runs "
                f"safely); this is Python {sys.version.split()[0]}. Use --executor local, or a newer Python."
            )
        import_extra("ray", "ray", "--executor ray")
        self.address = address
        self.workers = workers

    def run(
        self, runs: Sequence[Any], folder_of: Callable[[Any], Path], progress: Callable[[Any, int], None]
    ) -> Generator[tuple[Any, Outcome], None, None]:
        import ray

        started_here = not ray.is_initialized()
        if started_here:
            options: dict[str, Any] = {"log_to_driver": False}
            if self.address == "local":
                options.update(num_cpus=self.workers, include_dashboard=False)
            sigterm = signal.getsignal(signal.SIGTERM)
            ray.init(address=self.address, **options)
            signal.signal(signal.SIGTERM, sigterm)  # ray.init sets its own: keep the sweep's way of stopping
        workers = self.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        # A task is only a training process in a temporary folder: safe to retry if its node dies.
        task = ray.remote(num_cpus=1, max_retries=3)(train_in_temporary_folder)
        waiting = deque(runs)
        in_flight: dict[Any, Any] = {}
        try:
            while waiting or in_flight:
                while waiting and len(in_flight) < workers:
                    run = waiting.popleft()
                    in_flight[task.remote(run.train_args())] = run
                [ready], _ = ray.wait(list(in_flight), num_returns=1)
                run = in_flight.pop(ready)
                try:
                    outcome, archive = ray.get(ready)
                except ray.exceptions.RayError as error:
                    folder = folder_of(run)
                    folder.mkdir(parents=True, exist_ok=True)
                    (folder / LOG_NAME).write_text(f"The Ray task failed:\n{error}\n")
                    outcome = Outcome(returncode=-1, started=time.time(), wall_time=0.0)
                else:
                    unpack(archive, folder_of(run))
                yield run, outcome
        finally:
            for ref in in_flight:
                ray.cancel(ref, force=True)
            if started_here:
                ray.shutdown()
