"""Saving and loading IterativeSAC with its own options, its replay buffer and its actor alone (in the shape of
sb3-contrib's test_save_load); the model and the policy of every algorithm are saved and loaded over ``MODEL_LIST``
in test_algorithms.py."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from sb3_iterative import IterativeSAC
from sb3_iterative.iterative_sac import IterativeActor

from helpers import SMALL, observations


def trained_model(seed: int = 0, timesteps: int = 100, policy_kwargs=None, **kwargs) -> IterativeSAC:
    policy_kwargs = dict(net_arch=[32, 32], **(policy_kwargs or {}))
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", **{**SMALL, **kwargs}, policy_kwargs=policy_kwargs, seed=seed)
    model.learn(timesteps)
    return model


def deterministic_actions(model_or_policy, obs: np.ndarray) -> np.ndarray:
    actions, _ = model_or_policy.predict(obs, deterministic=True)
    return actions


def assert_same_parameters(first, second) -> None:
    first_state, second_state = first.state_dict(), second.state_dict()
    assert first_state.keys() == second_state.keys()
    for key in first_state:
        assert th.equal(first_state[key], second_state[key]), key


@pytest.mark.parametrize("actor", ["iterative", "direct"])
@pytest.mark.parametrize("critic_arch", ["A", "B"])
def test_save_load_model(tmp_path, actor, critic_arch):
    model = trained_model(policy_kwargs=dict(actor=actor, critic_arch=critic_arch))
    obs = observations(model)
    actions = deterministic_actions(model, obs)
    model.save(tmp_path / "model.zip")

    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert isinstance(loaded.actor, IterativeActor) == (actor == "iterative")
    assert loaded.policy.critic_arch == critic_arch and loaded.beta == model.beta
    assert_same_parameters(model.policy, loaded.policy)
    np.testing.assert_array_equal(deterministic_actions(loaded, obs), actions)


def test_save_load_replay_buffer(tmp_path):
    model = trained_model(timesteps=80)
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    other = IterativeSAC("MlpPolicy", "Pendulum-v1", **SMALL)
    other.load_replay_buffer(tmp_path / "buffer.pkl")

    assert other.replay_buffer.size() == model.replay_buffer.size() == 80
    for field in ("observations", "next_observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(other.replay_buffer, field), getattr(model.replay_buffer, field))


def test_training_continues_after_load(tmp_path):
    model = trained_model()
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")

    loaded = IterativeSAC.load(tmp_path / "model.zip", env=gym.make("Pendulum-v1"))
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    before = {key: value.clone() for key, value in loaded.policy.state_dict().items()}
    loaded.learn(50, reset_num_timesteps=False)
    assert loaded.num_timesteps == 150
    assert loaded.replay_buffer.size() == 150
    after = loaded.policy.state_dict()
    for prefix in ("actor.", "critic.", "critic_target."):
        changed = [not th.equal(before[key], after[key]) for key in before if key.startswith(prefix)]
        assert any(changed), prefix


def test_set_parameters():
    source = trained_model(seed=0)
    target = IterativeSAC("MlpPolicy", "Pendulum-v1", **SMALL, policy_kwargs=dict(net_arch=[32, 32]), seed=1)
    obs = observations(source)
    assert not np.array_equal(deterministic_actions(target, obs), deterministic_actions(source, obs))

    target.set_parameters(source.get_parameters())
    assert_same_parameters(source.policy, target.policy)
    np.testing.assert_array_equal(deterministic_actions(target, obs), deterministic_actions(source, obs))


@pytest.mark.parametrize("device", ["cpu", "auto"])
def test_device(device):
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", **SMALL, policy_kwargs=dict(net_arch=[32, 32]), device=device)
    expected = th.device("cuda" if th.cuda.is_available() else "cpu")
    assert model.device.type == expected.type
    assert all(param.device.type == expected.type for param in model.policy.parameters())
    assert model.actor.ent_coef.device.type == expected.type
    actions = deterministic_actions(model, observations(model))
    assert actions.shape == (8, 1) and np.abs(actions).max() <= 2.0


@pytest.mark.parametrize("ent_coef", ["auto", 0.1])
def test_actor_ent_coef_survives_save_load(tmp_path, ent_coef):
    model = trained_model(ent_coef=ent_coef)
    expected = 0.1 if ent_coef == 0.1 else th.exp(model.log_ent_coef.detach()).item()
    if ent_coef == "auto":
        assert expected != pytest.approx(1.0)  # it has moved from its initial value
    assert model.actor.ent_coef.item() == pytest.approx(expected)
    model.save(tmp_path / "model.zip")

    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.actor.ent_coef.item() == pytest.approx(expected)
    assert loaded._current_ent_coef().item() == pytest.approx(expected)


def test_n_iterations_from_policy_kwargs_survive_save_load(tmp_path):
    model = trained_model(policy_kwargs=dict(n_iterations=3))
    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.policy.n_iterations == loaded.actor.options.n_iterations == 3


@pytest.mark.parametrize("setting, value", [("n_iterations", 7), ("init_mu_std", 0.3)])
def test_test_time_settings_survive_save_load(tmp_path, setting, value):
    """Extra iterations and random starts set on a trained policy are saved with it."""
    model = trained_model()
    setattr(model.policy, setting, value)
    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert getattr(loaded.policy, setting) == getattr(loaded.actor.options, setting) == value


def test_every_option_set_on_a_trained_policy_is_saved_and_only_the_changed_ones_are_written(tmp_path):
    model = trained_model(policy_kwargs=dict(n_iterations=3))
    given = dict(model.policy_kwargs)
    model.policy.set_options(n_action_samples=4, n_iterations=6)
    model.save(tmp_path / "model.zip")
    assert model.policy_kwargs == {**given, "n_action_samples": 4, "n_iterations": 6}
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.policy.options == loaded.actor.options == model.policy.options


def test_actor_alone_saves_and_loads_but_cannot_act(tmp_path):
    model = trained_model()
    model.actor.save(tmp_path / "actor.pth")
    actor = IterativeActor.load(tmp_path / "actor.pth")
    for key, value in model.actor.state_dict().items():
        assert th.equal(value, actor.state_dict()[key]), key
    with pytest.raises(TypeError, match=r"cannot act alone.*model\.policy\.predict"):
        model.actor.predict(observations(model))


def test_cnn_policy_trains_saves_and_loads(tmp_path):
    from stable_baselines3.common.envs import FakeImageEnv

    env = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=False)
    model = IterativeSAC(
        "CnnPolicy", env, buffer_size=200, learning_starts=20, batch_size=8, seed=0,
        policy_kwargs=dict(net_arch=[16], n_iterations=2, features_extractor_kwargs=dict(features_dim=16)),
    )  # fmt: skip
    model.learn(40)
    assert model._n_updates == 20 and type(model.policy).__name__ == "CnnPolicy"
    obs = np.stack([env.observation_space.sample() for _ in range(3)])
    actions = deterministic_actions(model, obs)
    model.save(tmp_path / "cnn.zip")
    np.testing.assert_array_equal(deterministic_actions(IterativeSAC.load(tmp_path / "cnn.zip"), obs), actions)


def test_lever_options_survive_save_load(tmp_path):
    model = trained_model(policy_kwargs=dict(init_mu_std=0.5, gradient_magnitude=True, residual_update=True))
    obs = observations(model)
    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.policy.init_mu_std == loaded.actor.options.init_mu_std == 0.5
    assert loaded.policy.options.gradient_magnitude and loaded.actor.options.gradient_magnitude
    assert loaded.policy.options.residual_update and loaded.actor.options.residual_update
    assert_same_parameters(model.policy, loaded.policy)
    np.testing.assert_array_equal(deterministic_actions(model, obs), deterministic_actions(loaded, obs))
