"""The comparison harness through its command line: a sweep of two environments, two algorithms
and two seeds on tiny budgets (local workers), killed after its first finished run and resumed;
its report checked against the logs; bad input; the Ray executor on a local Ray instance."""

import csv
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from sb3_iterative.compare.__main__ import main
from sb3_iterative.compare.report import _order
from sb3_iterative.compare.sweep import plan

pytestmark = pytest.mark.expensive  # trains agents or runs command lines: minutes

ENVS = ["Pendulum-v1", "InvertedPendulum-v5"]
ALGOS = ["sac", "iterative_sac"]
SEEDS = [1, 2]
# The files' learning_starts (1 000 and 5 000) would leave a 300-step run untrained.
TINY = [
    "-n", "300", "--eval-freq", "150", "--eval-episodes", "2",
    "--params", "learning_starts:100", "batch_size:32", "policy_kwargs:dict(net_arch=[32, 32])",
]  # fmt: skip
CHILD_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def compare(*args: str) -> list[str]:
    return [sys.executable, "-m", "sb3_iterative.compare", *args]


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=CHILD_ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{shlex.join(cmd)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def run_folders(logs: Path) -> list[Path]:
    return sorted(folder for folder in logs.glob("[!.]*/*") if folder.is_dir())


def mtimes(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*")}


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile
            continue
        if text in command:
            found.append(command)
    return found


def final_returns(logs: Path, algo: str, env: str) -> np.ndarray:
    return np.array([np.load(logs / algo / f"{env}_{seed}" / "evaluations.npz")["results"][-1].mean() for seed in SEEDS])


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path) as file:
        return list(csv.DictReader(file))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[Path, dict[Path, dict[Path, int]], str]:
    """The sweep, killed (SIGKILL: no chance to clean up) once its first run has finished, then
    resumed. Returns the log folder, the files of the runs finished before the kill with their
    modification times, and the resumed sweep's output."""
    cwd = tmp_path_factory.mktemp("compare")
    logs = cwd / "logs"
    cmd = compare("--env", *ENVS, "--algo", *ALGOS, "--seeds", "2", "--workers", "2", "-f", str(logs), *TINY)
    with open(cwd / "first.txt", "w") as output:
        first = subprocess.Popen(cmd, cwd=cwd, env=CHILD_ENV, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not list(logs.glob("*/*/compare.json")):
            assert first.poll() is None, (cwd / "first.txt").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        first.kill()
        first.wait()

    # The runs it was training die with it.
    deadline = time.monotonic() + 10
    while processes_mentioning(str(logs)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_mentioning(str(logs))

    finished = {folder: mtimes(folder) for folder in run_folders(logs)}
    assert 1 <= len(finished) < len(ENVS) * len(ALGOS) * len(SEEDS)
    for folder in finished:  # nothing half written in the log layout
        assert {"compare.json", "evaluations.npz", "train.log", f"{folder.name.rsplit('_', 1)[0]}.zip"} <= {
            path.name for path in folder.iterdir()
        }
    # A run cut off mid-way, as an interruption leaves it: a half-written rl-zoo3 run folder.
    cut = logs / ".compare" / "running" / "iterative_sac" / "InvertedPendulum-v5" / "seed_2"
    assert logs / "iterative_sac" / "InvertedPendulum-v5_2" not in finished  # trained last
    (cut / "iterative_sac" / "InvertedPendulum-v5_1").mkdir(parents=True, exist_ok=True)
    (cut / "iterative_sac" / "InvertedPendulum-v5_1" / "evaluations.npz").write_bytes(b"half")

    second = run(cmd, cwd)
    return logs, finished, second.stdout


def test_resumed_sweep_skips_finished_runs_and_restarts_the_others(sweep):
    logs, finished, output = sweep
    total = len(ENVS) * len(ALGOS) * len(SEEDS)
    assert f"{total} runs: {len(finished)} already finished in {logs} (skipped), {total - len(finished)} to train" in output
    ended = [line for line in output.splitlines() if line.startswith("[")]
    assert len(ended) == total - len(finished)  # one line per run trained
    assert not [line for line in ended if "FAILED" in line]
    for folder, files in finished.items():
        assert mtimes(folder) == files, folder  # not trained again, not touched
    expected = [logs / algo / f"{env}_{seed}" for algo in ALGOS for env in ENVS for seed in SEEDS]
    assert run_folders(logs) == sorted(expected)
    for folder in expected:
        with np.load(folder / "evaluations.npz") as evaluations:
            np.testing.assert_array_equal(evaluations["timesteps"], [150, 300])
            assert evaluations["results"].shape == (2, 2)
    assert not (logs / ".compare" / "running").exists()


def test_each_run_is_an_rl_zoo3_run_that_can_be_repeated_alone(sweep, tmp_path):
    logs, _, _ = sweep
    folder = logs / "sac" / "Pendulum-v1_2"
    for name in ("Pendulum-v1.zip", "best_model.zip", "0.monitor.csv", "Pendulum-v1/config.yml", "Pendulum-v1/command.txt"):
        assert (folder / name).is_file(), name
    args = dict(yaml.unsafe_load((folder / "Pendulum-v1" / "args.yml").read_text()))
    assert (args["algo"], args["env"], args["seed"], args["n_timesteps"], args["num_threads"]) == (
        "sac",
        "Pendulum-v1",
        2,
        300,
        1,
    )
    config = dict(yaml.unsafe_load((folder / "Pendulum-v1" / "config.yml").read_text()))
    assert config["batch_size"] == 32 and config["learning_rate"] == 1e-3  # the override, and sb3_iterative's sac.yml
    record = json.loads((folder / "compare.json").read_text())
    assert record["settings"]["hyperparams"]["learning_starts"] == 100 and record["wall_time_s"] > 0

    command = shlex.split(record["command"])
    assert command[:3] == ["python", "-m", "sb3_iterative.train"] and command[-2:] == ["-f", str(logs)]
    subprocess.run(
        [sys.executable, *command[1:-1], str(tmp_path)], cwd=tmp_path, env=CHILD_ENV, check=True, capture_output=True
    )
    with (
        np.load(tmp_path / "sac" / "Pendulum-v1_1" / "evaluations.npz") as alone,
        np.load(folder / "evaluations.npz") as swept,
    ):
        np.testing.assert_array_equal(alone["results"], swept["results"])


def test_report_matches_the_logs(sweep, tmp_path):
    logs, _, _ = sweep
    run(compare("--report", "-f", str(logs), "--out", "report"), tmp_path)
    out = tmp_path / "report"
    for env in ENVS:
        assert (out / f"{env}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "report.md").read_text()
    assert "Welch's t" in markdown
    summary = {(row["env"], row["algo"]): row for row in read_csv(out / "summary.csv")}
    assert set(summary) == {(env, algo) for env in ENVS for algo in ALGOS}
    for env in ENVS:
        baseline = final_returns(logs, "sac", env)
        for algo in ALGOS:
            finals, row = final_returns(logs, algo, env), summary[env, algo]
            assert float(row["final_return_mean"]) == pytest.approx(finals.mean())
            assert float(row["final_return_std"]) == pytest.approx(finals.std())
            assert f"| {algo} | 2 | {finals.mean():.1f} ± {finals.std():.1f} |" in markdown
            if algo == "sac":
                assert row["delta_vs_sac"] == "nan"
                continue
            welch = stats.ttest_ind(finals, baseline, equal_var=False).confidence_interval(0.95)
            assert float(row["delta_vs_sac"]) == pytest.approx(finals.mean() - baseline.mean())
            assert (float(row["ci_low"]), float(row["ci_high"])) == pytest.approx((welch.low, welch.high))

    runs = read_csv(out / "runs.csv")
    assert len(runs) == len(ENVS) * len(ALGOS) * len(SEEDS)
    for row in runs:
        folder = Path(row["folder"])
        with open(folder / "0.monitor.csv") as monitor:
            next(monitor)
            episodes = list(csv.DictReader(monitor))
        steps_per_second = sum(int(e["l"]) for e in episodes) / max(float(e["t"]) for e in episodes)
        assert float(row["steps_per_second"]) == pytest.approx(steps_per_second)
        assert float(row["wall_time_s"]) == json.loads((folder / "compare.json").read_text())["wall_time_s"]
    curves = read_csv(out / "curves.csv")
    assert len(curves) == len(runs) * 2
    for env in ENVS:  # the AUC's difference to SAC and its Welch interval, from the runs' AUCs
        aucs = {algo: np.array([float(r["auc"]) for r in runs if (r["env"], r["algo"]) == (env, algo)]) for algo in ALGOS}
        for algo in ALGOS:
            if algo == "sac":
                continue
            welch = stats.ttest_ind(aucs[algo], aucs["sac"], equal_var=False).confidence_interval(0.95)
            row = summary[env, algo]
            assert float(row["auc_delta_vs_sac"]) == pytest.approx(aucs[algo].mean() - aucs["sac"].mean())
            assert (float(row["auc_ci_low"]), float(row["auc_ci_high"])) == pytest.approx((welch.low, welch.high))
            assert f"{float(row['auc_delta_vs_sac']):+.1f} [{welch.low:+.1f}, {welch.high:+.1f}] |" in markdown


def test_bad_input_stops_before_anything_starts(sweep, tmp_path, capsys):
    logs, _, _ = sweep
    before = {folder: mtimes(folder) for folder in run_folders(logs)}
    new = tmp_path / "logs"
    cases = [
        (
            ["--env", "Pendulum-v2"],
            "unknown environment 'Pendulum-v2' (not in gymnasium's registry): did you mean 'Pendulum-v1'?",
        ),
        (
            ["--env", "Pendulum-v1", "--algo", "sac", "iterative_sca"],
            "unknown algorithm 'iterative_sca': did you mean 'iterative_sac'?",
        ),
        (["--env", "Pendulum-v1", "--seed-list"], "the seed list is empty"),
        (["--env", "Pendulum-v1", "--seeds", "0"], "the seed list is empty"),
        (["--env", "Pendulum-v1", "--params", "batch_size"], "expected key:value"),
    ]
    for args, message in cases:
        assert main([*args, "-f", str(new)]) == 2
        assert message in capsys.readouterr().err
    assert not new.exists()

    # The sweep's log folder holds runs of 300 steps, with other overrides.
    other = ["-n", "600", "--eval-freq", "150", "--eval-episodes", "2"]
    assert main(["--env", *ENVS, "--algo", *ALGOS, "--seeds", "2", "-f", str(logs), *other]) == 2
    error = capsys.readouterr().err
    assert (
        f"{logs / 'sac' / 'Pendulum-v1_1'} was made with other settings than asked now: n_timesteps 300 (asked: 600)" in error
    )
    assert "learning_starts 100 (asked: 1000)" in error  # sac.yml's, without the override
    assert {folder: mtimes(folder) for folder in run_folders(logs)} == before
    assert not (logs / ".compare" / "running").exists()


def test_other_algorithms_read_rl_zoo3_files_and_fall_back_to_default():
    # tqc and iterative_tqc read the package's files (v5 entries); td3 rl-zoo3's (v4 only)
    runs, notes = plan(["HalfCheetah-v5"], ["sac", "iterative_sac", "tqc", "iterative_tqc", "td3"], [1])
    assert {run.n_timesteps for run in runs} == {1_000_000} and {run.eval_freq for run in runs} == {50_000}
    assert len(notes) == 1
    assert notes[0].startswith("td3 on HalfCheetah-v5: no entry in ") and "it lists HalfCheetah-v4" in notes[0]
    td3 = next(run for run in runs if run.algo == "td3").hyperparams  # its `default`
    assert td3["policy"] == "MlpPolicy" and td3["noise_type"] == "normal"
    assert next(run for run in runs if run.algo == "tqc").hyperparams == {"policy": "MlpPolicy", "learning_starts": 10000}


def test_crossq_reads_the_package_file():
    """crossq and iterative_crossq read the package's files: rl-zoo3's CrossQ settings under the v5 names, one budget."""
    runs, notes = plan(["HalfCheetah-v5"], ["crossq", "iterative_crossq"], [1])
    assert not notes and {run.n_timesteps for run in runs} == {5_000_000}
    crossq = next(run for run in runs if run.algo == "crossq").hyperparams
    assert crossq["policy_delay"] == 3 and crossq["learning_starts"] == 5000 and "qf=[2048, 2048]" in crossq["policy_kwargs"]
    # SAC's file gives another budget: a comparison of the two names -n
    with pytest.raises(Exception, match=r"do not give one budget .*crossq 5000000.0.*: give -n"):
        plan(["HalfCheetah-v5"], ["sac", "crossq"], [1])


def test_report_lists_sac_and_tqc_each_before_the_iterative_algorithm_on_it():
    algos = ["iterative_tqc", "iterative_crossq", "td3", "crossq", "tqc", "iterative_sac", "sac"]
    assert sorted(algos, key=_order) == ["sac", "iterative_sac", "tqc", "iterative_tqc", "crossq", "iterative_crossq", "td3"]


def test_ray_executor_on_a_local_ray_instance(tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional dependency: pip install 'sb3-iterative[ray]'")
    logs = tmp_path / "logs"
    result = run(
        compare("--env", "Pendulum-v1", "--algo", "tqc", "crossq", "--seeds", "1", "--workers", "2",
                "--executor", "ray", "--address", "local", "-f", str(logs), *TINY),
        tmp_path,
    )  # fmt: skip
    assert "Started a local Ray instance" in result.stderr
    assert len([line for line in result.stdout.splitlines() if line.startswith("[")]) == 2
    for algo in ("tqc", "crossq"):
        folder = logs / algo / "Pendulum-v1_1"
        assert (folder / "compare.json").is_file() and (folder / "Pendulum-v1.zip").is_file()
        args = dict(yaml.unsafe_load((folder / "Pendulum-v1" / "args.yml").read_text()))
        assert args["log_folder"] != str(logs)  # trained in a temporary folder of the Ray worker
    run(compare("--report", "-f", str(logs), "--out", "report"), tmp_path)
    algos = [row["algo"] for row in read_csv(tmp_path / "report" / "summary.csv")]
    assert algos == ["tqc", "crossq"]  # the report lists tqc with its family first, the others by name
