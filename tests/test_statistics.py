"""The report's rliable statistics (sb3_iterative/compare/statistics.py, references.py) on hand-made runs
whose answer is known, and the report on rl-zoo3 log folders written by hand (one seed, any algorithm)."""

import csv
from pathlib import Path

import numpy as np
import pytest
import yaml

from sb3_iterative.compare import statistics
from sb3_iterative.compare.references import REFERENCES, TASKS, normalize
from sb3_iterative.compare.report import write_report

HYPERPARAMS = Path(__file__).parent.parent / "sb3_iterative" / "hyperparams"


def fake_run(logs: Path, algo: str, env: str, seed: int, curve: np.ndarray) -> None:
    """An rl-zoo3 run folder as the report reads it: evaluations, args.yml, the final model, a monitor file."""
    folder = logs / algo / f"{env}_{seed}"
    (folder / env).mkdir(parents=True)
    timesteps = np.arange(1, len(curve) + 1) * 100
    np.savez(folder / "evaluations.npz", timesteps=timesteps, results=np.repeat(curve[:, None], 2, axis=1))
    (folder / env / "args.yml").write_text(yaml.safe_dump({"algo": algo, "env": env, "seed": seed}))
    (folder / f"{env}.zip").write_bytes(b"")
    (folder / "0.monitor.csv").write_text('#{"t_start": 0}\nr,l,t\n1.0,200,10.0\n')


def test_identical_algorithms_have_a_probability_of_improvement_around_one_half(fewer_replications):
    scores = np.random.default_rng(0).normal(size=(5, 3))
    probability, low, high = statistics.probability_of_improvement({"sac": scores, "same": scores.copy()}, "sac")["same"]
    assert probability == 0.5
    assert low < 0.5 < high


def test_an_algorithm_better_on_every_seed_has_a_probability_of_improvement_of_one(fewer_replications):
    scores = np.random.default_rng(0).normal(size=(5, 3))
    better = scores.max() + 1 + np.random.default_rng(1).random((5, 3))
    probability, low, high = statistics.probability_of_improvement({"sac": scores, "better": better}, "sac")["better"]
    assert probability == low == high == 1.0
    worse = statistics.probability_of_improvement({"sac": better, "worse": scores}, "sac")["worse"]
    assert worse == (0.0, 0.0, 0.0)


def test_aggregates_and_intervals_match_their_definitions():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(8, 2))
    numbers = statistics.aggregates({"a": scores})["a"]
    flat = np.sort(scores.ravel())
    assert numbers["mean"][0] == pytest.approx(flat.mean())
    assert numbers["median"][0] == pytest.approx(np.median(scores.mean(axis=0)))  # of the per-task means
    assert numbers["IQM"][0] == pytest.approx(flat[4:12].mean())  # the middle 8 of 16 runs
    assert numbers["optimality gap"][0] == pytest.approx(np.mean(1 - np.minimum(flat, 1)))
    for point, low, high in numbers.values():
        assert low <= point <= high and low < high
    assert statistics.aggregates({"a": scores}) == statistics.aggregates({"a": scores})  # a fixed bootstrap seed


def test_one_seed_gives_estimates_without_intervals():
    numbers = statistics.location({"one": np.array([[3.0]])})["one"]
    assert numbers["IQM"][0] == numbers["mean"][0] == 3.0
    assert all(np.isnan(numbers[name][1]) and np.isnan(numbers[name][2]) for name in numbers)
    points, intervals = statistics.iqm_curves({"one": np.ones((1, 1, 4))})
    assert points["one"].tolist() == [1.0] * 4 and np.isnan(intervals["one"]).all()


def test_iqm_curve_is_the_iqm_of_each_evaluation():
    curves = np.random.default_rng(0).normal(size=(8, 1, 5))
    points, intervals = statistics.iqm_curves({"a": curves})
    for step in range(5):
        assert points["a"][step] == pytest.approx(np.sort(curves[:, 0, step])[2:6].mean())
    assert (intervals["a"][0] <= points["a"]).all() and (points["a"] <= intervals["a"][1]).all()


def test_normalization_uses_the_random_and_reference_returns_and_names_a_missing_task():
    reference = REFERENCES["HalfCheetah-v5"]
    assert normalize("HalfCheetah-v5", np.array([reference.random, reference.reference])).tolist() == [0.0, 1.0]
    with pytest.raises(KeyError, match="'Reacher-v5'"):
        normalize("Reacher-v5", np.array([1.0]))


def test_every_task_of_the_hyperparameter_files_is_listed():
    tasks = {env for path in HYPERPARAMS.glob("*.yml") for env in yaml.safe_load(path.read_text()) if env != "default"}
    assert tasks == set(TASKS)
    assert set(REFERENCES) <= set(TASKS)


@pytest.fixture
def fewer_replications(monkeypatch):
    """What is under test does not need the bootstrap's precision: 200 replications, not 2 000."""
    monkeypatch.setattr(statistics, "REPS", 200)


def read_statistics(out: Path) -> dict[tuple[str, str, str], dict[str, str]]:
    with open(out / "statistics.csv") as file:
        return {(row["scope"], row["algo"], row["statistic"]): row for row in csv.DictReader(file)}


def test_report_with_one_seed_per_algorithm_and_any_algorithm(fewer_replications, tmp_path):
    logs = tmp_path / "logs"
    for algo, level in (("sac", -500.0), ("tqc", -300.0)):
        fake_run(logs, algo, "Pendulum-v1", 1, np.linspace(-1200.0, level, 6))
    report = write_report(logs, tmp_path / "report")
    markdown = report.read_text()
    assert "| tqc | 1 | -300.0 (CI unavailable: 1 seed) |" in markdown
    assert (tmp_path / "report" / "Pendulum-v1_iqm.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "report" / "performance_profiles.png").is_file()
    estimates = read_statistics(tmp_path / "report")
    expected = (-300.0 - REFERENCES["Pendulum-v1"].random) / (
        REFERENCES["Pendulum-v1"].reference - REFERENCES["Pendulum-v1"].random
    )
    row = estimates["all", "tqc", "IQM normalized final return"]
    assert float(row["point"]) == pytest.approx(expected)
    assert row["ci_low"] == "nan"
    assert estimates["all", "tqc", "P(X > sac)"]["point"] == "1.0"


def test_report_across_environments_with_seeds_and_without_a_reference(fewer_replications, tmp_path):
    logs = tmp_path / "logs"
    rng = np.random.default_rng(0)
    for env in ("Pendulum-v1", "HalfCheetah-v5"):
        for seed in (1, 2, 3):
            curve = rng.normal(size=4)
            fake_run(logs, "sac", env, seed, curve)
            fake_run(logs, "iterative_sac", env, seed, curve)  # the same curves: no improvement either way
    write_report(logs, tmp_path / "report")
    estimates = read_statistics(tmp_path / "report")
    probability = estimates["all", "iterative_sac", "P(X > sac)"]
    assert float(probability["point"]) == 0.5 and float(probability["ci_low"]) < 0.5 < float(probability["ci_high"])
    assert ("Pendulum-v1", "sac", "IQM final return") in estimates

    fake_run(logs, "sac", "Reacher-v5", 1, np.zeros(4))
    fake_run(logs, "iterative_sac", "Reacher-v5", 1, np.zeros(4))
    markdown = write_report(logs, tmp_path / "report2").read_text()
    assert "no statistics across environments: no reference score for 'Reacher-v5'" in markdown
    assert "## Reacher-v5" in markdown  # the per-environment tables are still written


def test_report_regenerated_from_an_earlier_reports_csv_files(fewer_replications, tmp_path):
    logs = tmp_path / "logs"
    rng = np.random.default_rng(0)
    for algo in ("sac", "iterative_sac"):
        for seed in (1, 2):
            fake_run(logs, algo, "Pendulum-v1", seed, rng.normal(size=5))
    first = tmp_path / "first"
    write_report(logs, first)
    markdown = write_report(first, tmp_path / "second").read_text()  # no logs: the CSV files stand in
    assert "runs read from the runs.csv and curves.csv of an earlier report" in markdown
    for name in ("summary.csv", "runs.csv", "curves.csv", "statistics.csv"):
        assert (first / name).read_text() == (tmp_path / "second" / name).read_text(), name


def test_report_joins_runs_of_several_folders_and_refuses_a_run_given_twice(fewer_replications, tmp_path, capsys):
    from sb3_iterative.compare.__main__ import main

    logs, more = tmp_path / "logs", tmp_path / "more"
    rng = np.random.default_rng(0)
    for seed in (1, 2):
        fake_run(logs, "sac", "Pendulum-v1", seed, rng.normal(size=4))
        fake_run(more, "iterative_sac", "Pendulum-v1", seed, rng.normal(size=4))
    write_report(more, tmp_path / "earlier")  # the second folder as an earlier report's CSV files
    assert main(["--report", "-f", str(logs), "--also", str(tmp_path / "earlier"), "--out", str(tmp_path / "joined")]) == 0
    with open(tmp_path / "joined" / "summary.csv") as file:
        assert [(row["algo"], row["seeds"]) for row in csv.DictReader(file)] == [("sac", "2"), ("iterative_sac", "2")]
    assert main(["--report", "-f", str(logs), "--also", str(logs), "--out", str(tmp_path / "twice")]) == 2
    assert "the same run in two folders: sac Pendulum-v1 seed 1" in capsys.readouterr().err


# rliable 1.2's numbers (with arch 7.2 and pandas 2.3) for the report of benchmarks/report_crossq, which the report
# no longer computes with rliable: crossq's IQM curve on HalfCheetah-v5 (its interval [2, evaluations]) and its
# performance profile's bands at every 20th τ; the estimates of statistics.csv are that report's own file.
RLIABLE_CROSSQ_CURVE_INTERVAL = [
    [-3.086540333333333, -2.6839053333333336, -130.24000866666665, -4.937594666666667, 1097.840746, 1294.900178],
    [-1.5297453333333333, -0.6977746666666667, 185.92319066666667, 731.3493396666667, 2214.8223366666666, 3224.393727],
]
RLIABLE_CROSSQ_PROFILE_BANDS = [[1.0, 1 / 3, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.5, 0.0, 0.0, 0.0]]
REPORT_CROSSQ = Path(__file__).parent.parent / "benchmarks" / "report_crossq"


def recording(function, calls: list):
    def record(*args):
        result = function(*args)
        calls.append((args, result))
        return result

    return record


def test_report_reproduces_rliables_estimates_and_intervals(monkeypatch, tmp_path):
    """The report of 4 algorithms × 2 environments × 3 seeds regenerated from its runs.csv and curves.csv: every
    point and interval (2 000 replications) as rliable computed them when the report was written with it."""
    curves, profiles = [], []
    monkeypatch.setattr(statistics, "iqm_curves", recording(statistics.iqm_curves, curves))
    monkeypatch.setattr(statistics, "performance_profiles", recording(statistics.performance_profiles, profiles))
    write_report(REPORT_CROSSQ, tmp_path)
    expected, computed = read_statistics(REPORT_CROSSQ), read_statistics(tmp_path)
    # one estimate more than that report had: IterativeCrossQ's probability of improvement on CrossQ, its own base
    assert computed.keys() - expected.keys() == {("all", "iterative_crossq", "P(X > crossq)")} and len(expected) == 51
    for key, row in expected.items():
        for column in ("point", "ci_low", "ci_high"):
            assert float(computed[key][column]) == pytest.approx(float(row[column]), rel=1e-12, abs=1e-12), (key, column)
    (halfcheetah,), (_, intervals) = curves[0]
    assert halfcheetah["crossq"].shape == (3, 1, 6)
    np.testing.assert_allclose(intervals["crossq"], RLIABLE_CROSSQ_CURVE_INTERVAL, rtol=1e-12)
    (((_, taus), (_, bands)),) = profiles
    assert len(taus) == 101
    np.testing.assert_allclose(bands["crossq"][:, ::20], RLIABLE_CROSSQ_PROFILE_BANDS, rtol=1e-12)


def test_bootstrap_draws_depend_on_the_seed(monkeypatch):
    """A negative control for the test above: another seed gives other intervals."""
    scores = np.random.default_rng(0).normal(size=(5, 2))
    first = statistics.location({"a": scores})["a"]["IQM"]
    monkeypatch.setattr(statistics, "SEED", 1)
    second = statistics.location({"a": scores})["a"]["IQM"]
    assert first[0] == second[0] and first[1:] != second[1:]


def test_report_compares_each_algorithm_with_its_own_base(tmp_path):
    """IterativeCrossQ against CrossQ, IterativeSAC against SAC, on each environment (Welch's t on the final return
    and the AUC; the intervals BENCHMARKS.md quotes for these runs) and across them (P(X > base), within [0, 1])."""
    write_report(REPORT_CROSSQ, tmp_path)
    with open(tmp_path / "own_base.csv") as file:
        rows = {(row["env"], row["algo"]): row for row in csv.DictReader(file)}
    algos = ("iterative_sac", "iterative_crossq")
    assert set(rows) == {(env, algo) for env in ("HalfCheetah-v5", "Hopper-v5") for algo in algos}
    halfcheetah = rows["HalfCheetah-v5", "iterative_crossq"]
    assert halfcheetah["base"] == "crossq" and halfcheetah["seeds"] == halfcheetah["base_seeds"] == "3"
    numbers = [float(halfcheetah[key]) for key in ("delta_final_return", "ci_low", "ci_high", "welch_p_value")]
    np.testing.assert_allclose(numbers, [1376.24, -851.14, 3603.62, 0.1590], rtol=1e-3)
    assert float(rows["Hopper-v5", "iterative_crossq"]["welch_p_value"]) == pytest.approx(0.4368, abs=1e-4)
    point, low, high = (float(read_statistics(tmp_path)["all", "iterative_crossq", "P(X > crossq)"][key])
                        for key in ("point", "ci_low", "ci_high"))  # fmt: skip
    assert 0 <= low <= point <= high <= 1 and point > 0.5
    assert "| iterative_crossq | crossq | 3 / 3 |" in (tmp_path / "report.md").read_text()
