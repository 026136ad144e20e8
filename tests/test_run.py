"""Short learn() runs of IterativeSAC across its options and SB3's (in the shape of sb3-contrib's test_run); every
algorithm's runs with each actor, and on a VecEnv, are over ``MODEL_LIST`` in test_algorithms.py."""

import numpy as np
import pytest
import torch as th
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import DictReplayBuffer, NStepReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.envs import BitFlippingEnv
from stable_baselines3.common.noise import NormalActionNoise
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sb3_iterative import IterativeSAC
from sb3_iterative.iterative_sac import IterativeActor

from helpers import recording_logger, short_pendulum

SMALL = dict(learning_starts=100, batch_size=32, policy_kwargs=dict(net_arch=[32, 32]))
TRAIN_KEYS = {"train/actor_loss", "train/critic_loss", "train/ent_coef", "train/beta", "train/n_updates"}
ITERATIVE_KEYS = {"train/objective_improvement", "train/gate_mean"}


def check_trained(model, total_timesteps: int, expected_updates: int) -> None:
    """Collected, trained the expected number of times, still finite, and acts inside the action space."""
    assert model.num_timesteps == total_timesteps
    assert model._n_updates == expected_updates
    for name, param in model.policy.named_parameters():
        assert th.isfinite(param).all(), name
    obs = model.observation_space.sample()
    action, _ = model.predict(obs, deterministic=False)
    assert model.action_space.contains(action.astype(model.action_space.dtype))


@pytest.mark.parametrize("actor", ["iterative", "direct"])
@pytest.mark.parametrize("critic_arch", ["A", "B"])
def test_actor_and_critic_architectures(actor, critic_arch):
    policy_kwargs = dict(net_arch=[32, 32], actor=actor, critic_arch=critic_arch)
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", **{**SMALL, "policy_kwargs": policy_kwargs}, seed=0)
    recorder = recording_logger(model)
    model.learn(200, log_interval=1)
    check_trained(model, 200, expected_updates=100)
    assert isinstance(model.actor, IterativeActor) == (actor == "iterative")
    assert type(model.critic).__name__ == {"A": "ContinuousCritic", "B": "HighwayCritic"}[critic_arch]
    logged = set(recorder.values)
    assert TRAIN_KEYS <= logged
    assert (ITERATIVE_KEYS <= logged) == (actor == "iterative")
    assert recorder.values["train/beta"][-1] == 2.5


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(policy_kwargs=dict(net_arch=[32, 32], n_action_samples=3)),
        dict(policy_kwargs=dict(net_arch=[32, 32], n_critics=3), beta=2.5),
        dict(ent_coef="auto"),
        dict(ent_coef=0.1),
    ],
    ids=["n_action_samples=3", "n_critics=3", "ent_coef=auto", "ent_coef=0.1"],
)
def test_options(kwargs):
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", **{**SMALL, **kwargs}, seed=0)
    recorder = recording_logger(model)
    model.learn(200, log_interval=1)
    check_trained(model, 200, expected_updates=100)
    ent_coef = recorder.values["train/ent_coef"][-1]
    if kwargs.get("ent_coef") == 0.1:
        assert ent_coef == pytest.approx(0.1)
        assert "train/ent_coef_loss" not in recorder.values
    else:
        assert "train/ent_coef_loss" in recorder.values
    # the actor acts with the current α
    assert model.actor.ent_coef.item() == pytest.approx(model._current_ent_coef().item())


def test_n_step_returns():
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", n_steps=3, **SMALL, seed=0)
    model.learn(200)
    check_trained(model, 200, expected_updates=100)
    assert isinstance(model.replay_buffer, NStepReplayBuffer)
    assert model.replay_buffer.n_steps == 3


def test_train_freq_in_episodes():
    model = IterativeSAC("MlpPolicy", short_pendulum(50), train_freq=(2, "episode"), **{**SMALL, "learning_starts": 50})
    model.learn(300)
    # training after every second 50-step episode: at steps 100, 200 and 300
    check_trained(model, 300, expected_updates=3)


def test_gradient_steps_and_action_noise():
    # noise this wide saturates nearly every action: they are stored clipped to the bounds
    action_noise = NormalActionNoise(np.zeros(1), 100.0 * np.ones(1))
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", gradient_steps=2, action_noise=action_noise, **SMALL, seed=0)
    model.learn(150)
    check_trained(model, 150, expected_updates=100)
    stored_actions = model.replay_buffer.actions[: model.replay_buffer.size()]
    assert np.abs(stored_actions).max() <= 1.0
    assert np.mean(np.abs(stored_actions) == 1.0) > 0.9


def test_multi_input_policy():
    env = BitFlippingEnv(n_bits=4, continuous=True)
    model = IterativeSAC("MultiInputPolicy", env, **{**SMALL, "learning_starts": 50}, seed=0)
    model.learn(100)
    check_trained(model, 100, expected_updates=50)
    assert isinstance(model.replay_buffer, DictReplayBuffer)


def test_her_replay_buffer():
    env = BitFlippingEnv(n_bits=4, continuous=True)
    model = IterativeSAC(
        "MultiInputPolicy",
        env,
        replay_buffer_class=HerReplayBuffer,
        replay_buffer_kwargs=dict(n_sampled_goal=2, goal_selection_strategy="future"),
        **{**SMALL, "learning_starts": 50},
        seed=0,
    )
    model.learn(100)
    check_trained(model, 100, expected_updates=50)
    assert isinstance(model.replay_buffer, HerReplayBuffer)
    assert model.replay_buffer.size() == 100


def test_callback_is_called():
    class CountSteps(BaseCallback):
        def __init__(self):
            super().__init__()
            self.n_calls_seen = 0
            self.training_ended = False

        def _on_step(self) -> bool:
            self.n_calls_seen += 1
            return True

        def _on_training_end(self) -> None:
            self.training_ended = True

    callback = CountSteps()
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", **SMALL, seed=0)
    model.learn(150, callback=callback)
    assert callback.n_calls_seen == 150 and callback.training_ended


def test_tensorboard(tmp_path):
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", tensorboard_log=str(tmp_path), **SMALL, seed=0)
    model.learn(200, log_interval=1)
    run_folder = tmp_path / "IterativeSAC_1"
    assert run_folder.is_dir()
    events = EventAccumulator(str(run_folder))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    expected = (TRAIN_KEYS - {"train/n_updates"}) | ITERATIVE_KEYS  # n_updates is excluded from TensorBoard
    assert expected <= scalars, expected - scalars


@pytest.mark.filterwarnings("ignore::tqdm.TqdmExperimentalWarning")
def test_progress_bar(capsys):
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", **{**SMALL, "learning_starts": 50}, seed=0)
    model.learn(100, progress_bar=True)
    check_trained(model, 100, expected_updates=50)
    assert "100/100" in capsys.readouterr().out


@pytest.mark.parametrize("value_estimator", ["critic", "model"])
def test_compiled_acting_matches_eager_acting(value_estimator):
    # the model's estimate is differentiated by autograd: its torch.autograd.grad is compiled with the rest
    model_options = dict(model_pretrain_steps=5) if value_estimator == "model" else {}
    model = IterativeSAC(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=50,
        batch_size=32,
        seed=0,
        device="cpu",
        policy_kwargs=dict(net_arch=[32, 32], compile_acting=True, value_estimator=value_estimator),
        **model_options,
    )
    model.learn(80)  # collection runs through the compiled path
    assert model.policy.amortizer.compiled_optimizer is not None
    obs = np.stack([model.observation_space.sample() for _ in range(4)])
    compiled, _ = model.predict(obs, deterministic=True)
    th.manual_seed(1)
    compiled_sample, _ = model.predict(obs)  # the noise is drawn outside the compiled graph, as eagerly
    model.policy.compile_acting = False
    model.policy.amortizer.compiled_optimizer = None  # dropped: eager acting must not compile it again
    eager, _ = model.predict(obs, deterministic=True)
    th.manual_seed(1)
    eager_sample, _ = model.predict(obs)
    np.testing.assert_allclose(compiled, eager, atol=1e-5)
    np.testing.assert_allclose(compiled_sample, eager_sample, atol=1e-5)
    assert not np.allclose(compiled_sample, compiled, atol=1e-3)
    assert model.policy._get_constructor_parameters()["compile_acting"] is False
    assert model.policy.amortizer.compiled_optimizer is None
