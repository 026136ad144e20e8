"""The rl-zoo3 bridge: training, enjoy, plots and hyperparameter search through the real command
line (subprocesses, a few hundred steps), and the hyperparameter files."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS
from stable_baselines3 import SAC

from sb3_iterative import IterativeCrossQ, IterativeSAC, IterativeTQC, zoo

ENV = "Pendulum-v1"
# The files' learning_starts (1 000 on Pendulum) would leave a 300-step run untrained.
TINY = {
    "iterative_sac": [
        "-params",
        "learning_starts:100",
        "batch_size:32",
        "policy_kwargs:dict(net_arch=[32, 32], n_iterations=2)",
    ],
    "sac": ["-params", "learning_starts:100", "batch_size:32", "policy_kwargs:dict(net_arch=[32, 32])"],
}
MUJOCO_TASKS = [
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Reacher-v5",
    "Swimmer-v5",
    "Humanoid-v5",
    "HumanoidStandup-v5",
]
# Paper Tables 5-6, iterative column.
CRITIC_B = {"Walker2d-v5", "Ant-v5", "Humanoid-v5", "HumanoidStandup-v5"}

zoo.register()


def command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]


def start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, check: bool = True) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=600)
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        assert result.returncode == 0, f"{' '.join(map(str, process.args))}\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return result


def run(cmd: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return finish(start(cmd, cwd), check)


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> tuple[Path, dict]:
    """Two seeds of each algorithm (rl-zoo3's plot_from_file needs two runs), evaluated twice
    with two episodes, in one log folder as a comparison would be; run two at a time."""
    folder = tmp_path_factory.mktemp("zoo")
    runs = {
        (algo, seed): command(
            "sb3_iterative.train",
            "--algo",
            algo,
            "--env",
            ENV,
            "--seed",
            str(seed),
            "-f",
            "logs",
            "-n",
            "300",
            "--eval-freq",
            "150",
            "--eval-episodes",
            "2",
            *TINY[algo],
        )
        for algo in ("iterative_sac", "sac")
        for seed in (1, 2)
    }
    results = {}
    keys = list(runs)
    for pair in (keys[0::2], keys[1::2]):
        processes = {key: start(runs[key], folder) for key in pair}
        results.update({key: finish(process) for key, process in processes.items()})
    return folder / "logs", results


@pytest.mark.expensive
def test_train(logs):
    folder, results = logs
    stdout = results["iterative_sac", 1].stdout
    assert f"Loading hyperparameters from: {zoo.hyperparams_file('iterative_sac')}" in stdout
    assert "Eval num_timesteps=150" in stdout and "Eval num_timesteps=300" in stdout
    run_dir = folder / "iterative_sac" / f"{ENV}_1"
    for name in (f"{ENV}.zip", "best_model.zip", "evaluations.npz", "0.monitor.csv", f"{ENV}/config.yml"):
        assert (run_dir / name).is_file(), name
    np.testing.assert_array_equal(np.load(run_dir / "evaluations.npz")["timesteps"], [150, 300])
    config = dict(yaml.unsafe_load((run_dir / ENV / "config.yml").read_text()))
    assert config["beta"] == 2.5 and config["learning_rate"] == 1e-3  # from iterative_sac.yml
    model = IterativeSAC.load(run_dir / f"{ENV}.zip", device="cpu")
    assert model.num_timesteps == 300 and model.policy.n_iterations == 2


@pytest.mark.expensive
def test_sac_through_the_same_entry_point(logs):
    folder, results = logs
    assert f"Loading hyperparameters from: {zoo.hyperparams_file('sac')}" in results["sac", 1].stdout
    model = SAC.load(folder / "sac" / f"{ENV}_1" / f"{ENV}.zip", device="cpu")
    assert type(model) is SAC and model.num_timesteps == 300


@pytest.mark.expensive
def test_enjoy(logs):
    folder, _ = logs
    result = run(
        command("sb3_iterative.enjoy", "--algo", "iterative_sac", "--env", ENV, "-f", str(folder), "--no-render", "-n", "200"),
        folder.parent,
    )
    assert f"iterative_sac/{ENV}_2/{ENV}.zip" in result.stdout  # the latest run
    assert "1 Episodes" in result.stdout and "Mean reward:" in result.stdout


@pytest.mark.expensive
def test_plots(logs):
    folder, _ = logs
    cwd = folder.parent
    for algo in ("iterative_sac", "sac"):
        run(command("rl_zoo3.cli", "plot_train", "-a", algo, "-e", ENV, "-f", str(folder), "-w", "1"), cwd)
    result = run(
        command(
            "rl_zoo3.cli",
            "all_plots",
            "-a",
            "iterative_sac",
            "sac",
            "-e",
            ENV,
            "-f",
            str(folder),
            "-o",
            "results",
            "--no-display",
            "--no-million",
        ),
        cwd,
    )
    header = next(line for line in result.stdout.splitlines() if line.startswith("|Environments"))
    assert [cell.strip() for cell in header.split("|")[2:4]] == ["ITERATIVE_SAC", "SAC"]
    run(command("rl_zoo3.cli", "plot_from_file", "-i", "results.pkl", "-o", "comparison.png", "--format", "png"), cwd)
    assert (cwd / "comparison.png").stat().st_size > 0


@pytest.mark.expensive
def test_optimize_with_shared_storage(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study_args = ["--storage", storage, "--study-name", "it"]
    # Trials collect 200 random steps and evaluate: the sampler, the model it builds, the storage
    # and the report are under test. Training with sampled settings (batch up to 2048, the 3 x 512
    # critic, K and N up to 10) would not fit in a test; tests above train.
    train = ["sb3_iterative.train", "--algo", "iterative_sac", "--env", ENV, "-f", "logs", *study_args]
    search = ["-optimize", "--n-trials", "2", "-n", "200", "--eval-episodes", "1", "--seed", "0", "--no-optim-plots"]
    run(command(*train, *search, "-params", "learning_starts:1000"), tmp_path)
    study = optuna.load_study(study_name="it", storage=storage)
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert {"n_iterations", "n_action_samples", "beta", "critic_arch", "learning_rate"} <= set(study.trials[1].params)
    assert list((tmp_path / "logs" / "iterative_sac").glob("report_*.csv"))

    # --trial-id reads a trial back through the converter
    read_back = ["--trial-id", "1", "-n", "10", "--eval-freq", "-1"]
    result = run(command(*train, *read_back, "-params", "learning_starts:1000"), tmp_path)
    assert "Loading from Optuna study" in result.stdout
    saved = sorted((tmp_path / "logs" / "iterative_sac").glob(f"{ENV}_*/{ENV}/config.yml"))[-1]
    config = dict(yaml.unsafe_load(saved.read_text()))
    params = study.trials[1].params
    assert config["beta"] == params["beta"]
    assert config["policy_kwargs"]["n_iterations"] == params["n_iterations"]
    assert config["policy_kwargs"]["critic_arch"] == params["critic_arch"]


def test_unknown_algo(tmp_path):
    result = run(command("sb3_iterative.train", "--algo", "iterative_sca", "--env", ENV, "-f", "logs"), tmp_path, check=False)
    assert result.returncode == 2
    assert "argument --algo: invalid choice: 'iterative_sca'" in result.stderr
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "params, name",
    [
        (["n_iteration:3"], "IterativeSAC.__init__() got an unexpected keyword argument 'n_iteration'"),
        (
            ["policy_kwargs:dict(n_iteration=3)"],
            "IterativeSACPolicy.__init__() got an unexpected keyword argument 'n_iteration'",
        ),
    ],
    ids=["algorithm", "policy"],
)
def test_unknown_hyperparameter(tmp_path, params, name):
    result = run(
        command("sb3_iterative.train", "--algo", "iterative_sac", "--env", ENV, "-f", "logs", "-params", *params),
        tmp_path,
        check=False,
    )
    assert result.returncode != 0
    assert name in result.stderr.splitlines()[-1]
    assert "Eval num_timesteps" not in result.stdout and not list(tmp_path.glob("logs/**/*.zip"))


def zoo_model(tmp_path, monkeypatch, algo: str, env_id: str):
    """The model rl-zoo3 builds from the package's file for ``algo`` on ``env_id`` (no training). The
    buffer is made small: 1e6 transitions of Humanoid's 348-dim observations would reserve several GB."""
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT into the working directory
    manager = ExperimentManager(
        argparse.Namespace(), algo, env_id, str(tmp_path), eval_freq=-1, hyperparams={"buffer_size": 1000},
        config=str(zoo.hyperparams_file(algo)), seed=0, verbose=0, device="cpu",
    )  # fmt: skip
    model, _ = manager.setup_experiment()
    return model


def read_file(algo: str) -> dict:
    return yaml.safe_load(zoo.hyperparams_file(algo).read_text())


@pytest.mark.parametrize("algo", ["iterative_sac", "sac"])
@pytest.mark.parametrize("env_id", [ENV, *MUJOCO_TASKS])
def test_every_entry_builds_a_model(tmp_path, monkeypatch, algo, env_id):
    # rl-zoo3's own path from the file to the model (schedules, policy_kwargs eval, env)
    model = zoo_model(tmp_path, monkeypatch, algo, env_id)
    entry = read_file(algo)[env_id]
    assert type(model) is ALGOS[algo]
    assert model.learning_starts == entry["learning_starts"] and model.batch_size == entry["batch_size"]
    if algo == "iterative_sac":
        assert model.beta == entry["beta"]
        assert model.policy.critic_arch == ("B" if env_id in CRITIC_B else "A")
        assert model.policy.n_iterations == 5 and model.policy.beta_collect == 1.0


def test_files_hold_the_paper_settings_and_one_budget():
    iterative, sac = read_file("iterative_sac"), read_file("sac")
    assert list(iterative) == list(sac) == ["default", ENV, *MUJOCO_TASKS]
    shared = ("n_timesteps", "policy", "learning_rate", "batch_size", "buffer_size", "learning_starts")
    for env_id, entry in iterative.items():
        assert {key: entry[key] for key in shared} == sac[env_id], env_id  # only the algorithm differs
        assert set(entry) == {*shared, "beta", "policy_kwargs"}
        if env_id == ENV:
            continue
        assert entry["n_timesteps"] == (2e6 if env_id == "Humanoid-v5" else 1e6)
        assert (entry["learning_rate"], entry["batch_size"], entry["buffer_size"], entry["learning_starts"]) == (
            3e-4,
            256,
            10**6,
            5000,
        )
        assert entry["beta"] == (1.5 if env_id == "Hopper-v5" else 2.5)
        arch = "B" if env_id in CRITIC_B else "A"
        assert entry["policy_kwargs"] == f"dict(n_iterations=5, n_action_samples=1, beta_collect=1.0, critic_arch='{arch}')"


@pytest.mark.parametrize("algo", zoo.MODEL_BASED_ALGOS)
def test_model_based_files_differ_from_iterative_sac_in_the_value_estimate(tmp_path, monkeypatch, algo):
    iterative, model_based = read_file("iterative_sac"), read_file(algo)
    assert list(model_based) == list(iterative)
    model_based_keys = {"model_pretrain_steps", "model_based_target", "policy_kwargs", "beta"}
    for env_id, entry in model_based.items():
        base = iterative[env_id]
        shared = {key: value for key, value in entry.items() if key not in model_based_keys}
        assert shared == {key: value for key, value in base.items() if key not in model_based_keys}, env_id
        assert entry["model_pretrain_steps"] == 1000 and entry["model_based_target"] is True
        assert "value_estimator='model', rollout_horizon=2, retrace_lambda=0.9" in entry["policy_kwargs"]
        assert entry["beta"] == (1.0 if algo == "direct_sac_mb" else base["beta"])
    model = zoo_model(tmp_path, monkeypatch, algo, "HalfCheetah-v5")
    assert type(model) is IterativeSAC and model.policy.value_estimator == "model"
    assert model.policy.actor_kind == ("direct" if algo == "direct_sac_mb" else "iterative")
    assert (model.model_pretrain_steps, model.model_based_target) == (1000, True)


@pytest.mark.expensive
def test_model_based_agents_train_and_enjoy_through_the_command_line(tmp_path):
    tiny = ["-n", "200", "-params", "learning_starts:100", "batch_size:32", "model_pretrain_steps:10"]
    policy = {
        "iterative_sac_mb": "policy_kwargs:dict(net_arch=[32, 32], n_iterations=2, value_estimator='model')",
        "direct_sac_mb": "policy_kwargs:dict(net_arch=[32, 32], actor='direct', value_estimator='model')",
    }
    processes = {
        algo: start(
            command("sb3_iterative.train", "--algo", algo, "--env", ENV, "--seed", "1", "-f", "logs", *tiny, policy[algo]),
            tmp_path,
        )
        for algo in zoo.MODEL_BASED_ALGOS
    }
    for algo, process in processes.items():
        result = finish(process)
        assert f"Loading hyperparameters from: {zoo.hyperparams_file(algo)}" in result.stdout
        model = IterativeSAC.load(tmp_path / "logs" / algo / f"{ENV}_1" / f"{ENV}.zip", device="cpu")
        assert model.num_timesteps == 200 and model.policy.value_estimator == "model" and model._model_pretrained
    result = run(
        command("sb3_iterative.enjoy", "--algo", "iterative_sac_mb", "--env", ENV, "-f", "logs", "--no-render", "-n", "200"),
        tmp_path,
    )
    assert "Mean reward:" in result.stdout


def test_flow_file_is_sac_with_the_flow_policy(tmp_path, monkeypatch):
    sac, flow = read_file("sac"), read_file(zoo.FLOW_ALGO)
    assert list(flow) == list(sac)
    for env_id, entry in flow.items():
        assert {key: value for key, value in entry.items() if key not in ("beta", "policy_kwargs")} == sac[env_id], env_id
        assert entry["beta"] == 1.0
        assert entry["policy_kwargs"] == "dict(actor='flow', flow_transforms=2, flow_net_arch=[256, 256])"
    model = zoo_model(tmp_path, monkeypatch, zoo.FLOW_ALGO, "Hopper-v5")
    assert type(model) is IterativeSAC and model.policy.actor_kind == "flow" and model.beta == 1.0
    assert (model.policy.flow_transforms, model.policy.flow_net_arch) == (2, [256, 256])


@pytest.mark.expensive
def test_flow_agent_trains_and_enjoys_through_the_command_line(tmp_path):
    tiny = [
        "-n",
        "200",
        "-params",
        "learning_starts:100",
        "batch_size:32",
        "policy_kwargs:dict(actor='flow', net_arch=[32, 32], flow_net_arch=[32, 32])",
    ]
    result = run(
        command("sb3_iterative.train", "--algo", zoo.FLOW_ALGO, "--env", ENV, "--seed", "1", "-f", "logs", *tiny), tmp_path
    )
    assert f"Loading hyperparameters from: {zoo.hyperparams_file(zoo.FLOW_ALGO)}" in result.stdout
    model = IterativeSAC.load(tmp_path / "logs" / zoo.FLOW_ALGO / f"{ENV}_1" / f"{ENV}.zip", device="cpu")
    assert model.num_timesteps == 200 and model.policy.actor_kind == "flow"
    result = run(
        command("sb3_iterative.enjoy", "--algo", zoo.FLOW_ALGO, "--env", ENV, "-f", "logs", "--no-render", "-n", "200"),
        tmp_path,
    )
    assert "Mean reward:" in result.stdout


def test_missing_entry_falls_back_to_default(tmp_path, capsys):
    manager = ExperimentManager(
        argparse.Namespace(),
        "iterative_sac",
        "MountainCarContinuous-v0",
        str(tmp_path),
        config=str(zoo.hyperparams_file("iterative_sac")),
        verbose=0,
    )
    hyperparams, _ = manager.read_hyperparameters()
    assert "Using 'default' hyperparameters" in capsys.readouterr().out
    assert hyperparams == read_file("iterative_sac")["default"]


def test_default_conf_file():
    ours = str(zoo.hyperparams_file("iterative_sac"))
    assert zoo.with_default_conf(["--algo", "iterative_sac", "-n", "5"]) == [
        "--algo",
        "iterative_sac",
        "-n",
        "5",
        "--conf-file",
        ours,
    ]
    assert zoo.with_default_conf(["--algo=sac"])[-1] == str(zoo.hyperparams_file("sac"))
    assert zoo.with_default_conf(["--algo", "iterative_tqc"])[-1] == str(zoo.hyperparams_file("iterative_tqc"))
    for argv in (
        ["--algo", "iterative_sac", "-conf", "mine.yml"],
        ["--algo", "iterative_sac", "--conf", "mine.yml"],  # abbreviations resolve as in rl-zoo3
        ["--algo", "iterative_sac", "--conf-file=mine.yml"],
        ["--algo", "td3"],  # rl-zoo3's own file
        ["--env", "Pendulum-v1"],  # rl-zoo3's default algorithm, ppo
        ["--algo"],  # rl-zoo3 reports it
    ):
        assert zoo.with_default_conf(argv) == argv


def test_register_is_idempotent():
    zoo.register()
    zoo.register()
    assert ALGOS["iterative_sac"] is IterativeSAC
    assert HYPERPARAMS_SAMPLER["iterative_sac"] is zoo.sample_iterative_sac_params
    assert HYPERPARAMS_CONVERTER["iterative_sac"] is zoo.convert_iterative_sac_params
    assert list(ALGOS).count("iterative_sac") == 1


@pytest.mark.parametrize("critic_arch", ["A", "B"])
def test_converter_rebuilds_what_the_sampler_built(critic_arch):
    params = dict(
        one_minus_gamma=0.01,
        batch_size_pow=7,
        learning_rate=1e-3,
        train_freq=4,
        tau=0.01,
        net_arch="big",
        n_iterations=3,
        n_action_samples=2,
        beta=1.5,
        critic_arch=critic_arch,
    )
    trial = optuna.trial.FixedTrial(params)
    sampled = zoo.sample_iterative_sac_params(trial, 1, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})
    assert sampled == zoo.convert_iterative_sac_params(params)
    assert sampled["beta"] == 1.5 and sampled["batch_size"] == 128 and sampled["gradient_steps"] == 4
    net_arch = dict(pi=[400, 300], qf=[512, 512, 512]) if critic_arch == "B" else [400, 300]
    assert sampled["policy_kwargs"] == dict(net_arch=net_arch, n_iterations=3, n_action_samples=2, critic_arch=critic_arch)
    IterativeSAC("MlpPolicy", ENV, buffer_size=100, **sampled)


def test_iterative_tqc_converter_rebuilds_what_the_sampler_built():
    assert HYPERPARAMS_SAMPLER["iterative_tqc"] is zoo.sample_iterative_tqc_params
    assert HYPERPARAMS_CONVERTER["iterative_tqc"] is zoo.convert_iterative_tqc_params
    params = dict(
        one_minus_gamma=0.01,
        batch_size_pow=7,
        learning_rate=1e-3,
        train_freq=4,
        tau=0.01,
        net_arch="small",
        n_quantiles=20,
        top_quantiles_to_drop_per_net=3,
        n_iterations=3,
        n_action_samples=2,
    )
    trial = optuna.trial.FixedTrial(params)
    sampled = zoo.sample_iterative_tqc_params(trial, 1, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})
    assert sampled == zoo.convert_iterative_tqc_params(params)
    assert sampled["top_quantiles_to_drop_per_net"] == 3 and sampled["batch_size"] == 128
    assert sampled["policy_kwargs"] == dict(net_arch=[64, 64], n_quantiles=20, n_iterations=3, n_action_samples=2)
    model = IterativeTQC("MlpPolicy", ENV, buffer_size=100, **sampled)
    assert model.policy.n_iterations == 3 and model.beta == 3 and model.critic.n_quantiles == 20


@pytest.mark.parametrize(("algo", "option"), [("iterative_sac_dt", "distilled_target"), ("iterative_sac_ws", "warm_start")])
def test_distilled_option_files_differ_from_iterative_sac_in_the_option(tmp_path, monkeypatch, algo, option):
    iterative, variant = read_file("iterative_sac"), read_file(algo)
    assert list(variant) == list(iterative)
    for env_id, entry in variant.items():
        base = iterative[env_id]
        shared = {key: value for key, value in entry.items() if key != "policy_kwargs"}
        assert shared == {key: value for key, value in base.items() if key != "policy_kwargs"}
        expected = base["policy_kwargs"][:-1] + f", {option}=True)"
        if option == "warm_start":
            expected = expected.replace("n_iterations=5", "n_iterations=2")
        assert entry["policy_kwargs"] == expected, env_id
    model = zoo_model(tmp_path, monkeypatch, algo, "HalfCheetah-v5")
    settings = {**model.policy.options.as_dict(), "distilled_target": model.policy.distilled_target}
    assert type(model) is IterativeSAC and settings[option] and model.policy.distilled_policy is not None
    assert model.policy.n_iterations == (2 if option == "warm_start" else 5)


def test_the_optimizer_options_as_rl_zoo3_hyperparameters(tmp_path, monkeypatch):
    """The optimizer's options are plain values: rl-zoo3 reads them from a hyperparameter string."""
    monkeypatch.chdir(tmp_path)
    policy_kwargs = "dict(net_arch=[32, 32], init_mu_std=0.3, gradient_magnitude=True, residual_update=True)"
    manager = ExperimentManager(
        argparse.Namespace(), "iterative_sac", ENV, str(tmp_path), eval_freq=-1,
        hyperparams={"buffer_size": 1000, "policy_kwargs": policy_kwargs},
        config=str(zoo.hyperparams_file("iterative_sac")), seed=0, verbose=0, device="cpu",
    )  # fmt: skip
    model, _ = manager.setup_experiment()
    assert model.policy.init_mu_std == model.actor.options.init_mu_std == 0.3
    assert model.actor.options.gradient_magnitude and model.actor.options.residual_update


@pytest.mark.parametrize("algo", ["crossq", "iterative_crossq"])
@pytest.mark.parametrize("env_id", [ENV, "HalfCheetah-v5", "Hopper-v5", "Swimmer-v5"])
def test_crossq_files_build_every_entry(tmp_path, monkeypatch, algo, env_id):
    """crossq.yml is rl-zoo3's CrossQ file with the v5 task names; iterative_crossq.yml differs from it in the actor."""
    model = zoo_model(tmp_path, monkeypatch, algo, env_id)
    entry = read_file(algo)[env_id]
    assert type(model) is ALGOS[algo] and model.policy_delay == entry["policy_delay"]
    assert model.gamma == entry.get("gamma", 0.99)
    stock = read_file("crossq")[env_id]
    assert {key: value for key, value in entry.items() if key not in ("beta", "policy_kwargs")} == {
        key: value for key, value in stock.items() if key != "policy_kwargs"
    }
    if algo == "iterative_crossq":
        assert model.beta == 2.5 and model.policy.n_iterations == 5 and model.policy.iterative
        assert model.critic.q_networks[0][1].out_features == model.policy.critic_kwargs["net_arch"][0]
        assert model.policy.critic_kwargs["net_arch"] == ([256, 256] if env_id == ENV else [2048, 2048])


def test_iterative_crossq_converter_rebuilds_what_the_sampler_built():
    assert HYPERPARAMS_SAMPLER["iterative_crossq"] is zoo.sample_iterative_crossq_params
    assert HYPERPARAMS_CONVERTER["iterative_crossq"] is zoo.convert_iterative_crossq_params
    params = dict(
        one_minus_gamma=0.01,
        batch_size_pow=7,
        learning_rate=1e-3,
        train_freq=4,
        net_arch="small",
        critic_width=1024,
        policy_delay=2,
        n_iterations=3,
        n_action_samples=2,
    )
    trial = optuna.trial.FixedTrial(params)
    sampled = zoo.sample_iterative_crossq_params(trial, 1, 1, {"using_her_replay_buffer": False, "her_kwargs": {}})
    assert sampled == zoo.convert_iterative_crossq_params(params)
    assert sampled["policy_delay"] == 2 and sampled["batch_size"] == 128 and "tau" not in sampled
    assert sampled["policy_kwargs"] == dict(net_arch=dict(pi=[64, 64], qf=[1024, 1024]), n_iterations=3, n_action_samples=2)
    model = IterativeCrossQ("MlpPolicy", ENV, buffer_size=100, **sampled)
    assert model.policy.n_iterations == 3 and model.policy_delay == 2


@pytest.mark.expensive
def test_iterative_crossq_trains_enjoys_and_searches_through_the_command_line(tmp_path):
    train = ["sb3_iterative.train", "--algo", "iterative_crossq", "--env", ENV, "-f", "logs"]
    small = ["-params", "learning_starts:100", "batch_size:32", "policy_kwargs:dict(net_arch=[32, 32], n_iterations=2)"]
    result = run(command(*train, "-n", "300", "--seed", "1", *small), tmp_path)
    assert f"Loading hyperparameters from: {zoo.hyperparams_file('iterative_crossq')}" in result.stdout
    model = IterativeCrossQ.load(tmp_path / "logs" / "iterative_crossq" / f"{ENV}_1" / f"{ENV}.zip", device="cpu")
    assert model.num_timesteps == 300 and model.policy.n_iterations == 2 and model.policy_delay == 2
    enjoy = ["sb3_iterative.enjoy", "--algo", "iterative_crossq", "--env", ENV, "-f", "logs", "--no-render", "-n", "200"]
    assert "Mean reward:" in run(command(*enjoy), tmp_path).stdout

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    search = ["-optimize", "--n-trials", "1", "-n", "200", "--eval-episodes", "1", "--seed", "0", "--no-optim-plots"]
    run(command(*train, "--storage", storage, "--study-name", "cq", *search, "-params", "learning_starts:1000"), tmp_path)
    study = optuna.load_study(study_name="cq", storage=storage)
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    assert {"critic_width", "policy_delay", "n_iterations", "n_action_samples"} <= set(study.trials[0].params)


@pytest.mark.expensive
@pytest.mark.parametrize("algo", list(zoo.ALGORITHMS))
def test_record_video_of_every_registered_name(tmp_path, algo):
    """rl-zoo3's record_video through the package's entry point, headless (MuJoCo renders with EGL)."""
    env_id = "HalfCheetah-v5"
    run_dir = tmp_path / "logs" / algo / f"{env_id}_1"
    policy_kwargs = dict(net_arch=dict(pi=[16, 16], qf=[16, 16])) if algo == "iterative_crossq" else dict(net_arch=[16, 16])
    zoo.ALGORITHMS[algo]("MlpPolicy", env_id, buffer_size=100, policy_kwargs=policy_kwargs).save(run_dir / f"{env_id}.zip")
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "MUJOCO_GL")}
    process = subprocess.run(
        command("sb3_iterative.record_video", "--algo", algo, "--env", env_id, "-f", "logs", "-n", "20"),
        cwd=tmp_path,
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    videos = list((run_dir / "videos").glob("*.mp4"))
    assert len(videos) == 1 and videos[0].stat().st_size > 1000
