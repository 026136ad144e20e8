"""IterativeSAC with the model-based value estimate: runs, logging, save/load, transfer (Fig. 9),
the analyses on a model-based J (Fig. 13b, c), and learning a task with a known optimum."""

import math

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from torch import nn

from sb3_iterative import IterativeSAC, IterativeSACPolicy, analysis
from sb3_iterative.analyze import run_analyses
from sb3_iterative.common.policies import ROLLOUT_SEED
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.model_based import ModelBasedValue
from sb3_iterative.objective import objective

from bandit import ContextualBandit
from helpers import SMALL, next_value, recording_logger, short_pendulum

SMALL_MODEL_BASED = dict(**SMALL, model_pretrain_steps=20)
MODEL_KEYS = {"train/model_state_loss", "train/model_reward_loss"}


def model_based(actor: str = "iterative", env="Pendulum-v1", seed: int = 0, **kwargs) -> IterativeSAC:
    policy_kwargs = dict(net_arch=[32, 32], actor=actor, value_estimator="model", **kwargs.pop("policy_kwargs", {}))
    beta = 1.0 if actor == "direct" else 2.5
    return IterativeSAC("MlpPolicy", env, beta=beta, policy_kwargs=policy_kwargs, seed=seed, **{**SMALL_MODEL_BASED, **kwargs})


@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_trains_and_acts_on_the_device(actor, device):
    model = model_based(actor, env=short_pendulum(), device=device).learn(80)
    assert model._n_updates == 30 and model.policy.estimator.gamma.device.type == device
    assert all(parameter.device.type == device for parameter in model.policy.estimator.parameters())
    actions, _ = model.predict(np.zeros((3, 3), dtype=np.float32), deterministic=True)
    assert actions.shape == (3, 1) and np.isfinite(actions).all()


@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_model_that_diverges_stops_training_at_the_end_of_its_train_call_naming_the_model(actor):
    """No host synchronization inside a gradient step: the model's non-finite predictions make J non-finite, which
    train() checks once, after every step of the call, with the model's losses named in its error."""
    model = model_based(actor, env=short_pendulum()).learn(60)
    with th.no_grad():
        model.policy.estimator.dynamics.reward_net[-1].bias.fill_(math.inf)
    updates = model._n_updates
    with pytest.raises(RuntimeError, match=r"training diverged .*value_estimator='model', the model's predictions"):
        model.train(3, batch_size=32)
    assert model._n_updates == updates + 3


@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_learn_trains_model_and_distilled_policy_and_logs_them(actor):
    model = model_based(actor, env=short_pendulum())
    recorder = recording_logger(model)
    before = {key: value.clone() for key, value in model.policy.state_dict().items()}
    model.learn(100, log_interval=1)

    assert model._n_updates == 50 and model._model_pretrained
    expected = MODEL_KEYS | ({"train/distillation_kl"} if actor == "iterative" else set())
    assert expected <= set(recorder.values), set(recorder.values)
    assert all(np.isfinite(value) for key in expected for value in recorder.values[key])
    after = model.policy.state_dict()
    prefixes = ["actor.", "critic.", "estimator.dynamics."] + (["distilled_policy."] if actor == "iterative" else [])
    for prefix in prefixes:
        assert any(not th.equal(before[key], after[key]) for key in before if key.startswith(prefix)), prefix
    assert model.policy.estimator.gamma.item() == pytest.approx(model.gamma)


def test_model_pretrains_once_on_the_random_steps():
    model = model_based(env=short_pendulum(), model_pretrain_steps=30)
    model.learn(50)  # the random steps only: nothing trained yet
    assert not model._model_pretrained
    step = model.policy.estimator.optimizer.state_dict()["state"]
    assert not step
    model.learn(1, reset_num_timesteps=False)
    model_steps = next(iter(model.policy.estimator.optimizer.state_dict()["state"].values()))["step"]
    assert model._model_pretrained and int(model_steps) == 30 + 1
    model.learn(2, reset_num_timesteps=False)
    model_steps = next(iter(model.policy.estimator.optimizer.state_dict()["state"].values()))["step"]
    assert int(model_steps) == 30 + 3  # no second pre-training


def test_multi_env_and_model_free_critic_target():
    env = make_vec_env(short_pendulum, n_envs=2, seed=0)
    model = model_based(env=env, model_based_target=False, train_freq=2, gradient_steps=2)
    model.learn(120)
    assert model.num_timesteps == 120 and model._n_updates > 0
    assert all(th.isfinite(param).all() for param in model.policy.parameters())


@pytest.mark.parametrize("model_based_target", [True, False])
def test_critic_target_through_the_model(model_based_target):
    model = model_based(env=short_pendulum(), model_based_target=model_based_target).learn(60)
    with th.no_grad():
        for param in model.critic_target.parameters():
            param.add_(0.3)  # target critics that differ from the online ones
        model.policy.estimator.dynamics.reward_net[-1].weight.normal_(std=0.5)
    next_obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(6)]))
    ent_coef = model._current_ent_coef()
    next_noise = model.policy.sample_noise(6)

    th.manual_seed(7)
    with th.no_grad():
        target_value = next_value(model, next_obs, ent_coef, next_noise)
    th.manual_seed(7)
    with th.no_grad():
        if model_based_target:  # λ' from the rollout policy, valued through the model with the target critics
            mu, log_std, _ = model.policy.distilled_policy.get_action_dist_params(next_obs)
            estimate = ModelBasedValue(
                model.policy.estimator, next_obs, model.critic_target, model.policy.distilled_policy, ent_coef
            )
        else:  # the model-free target: K iterations on the online critics' J, the target critics' value
            trace = model.policy.optimize(next_obs, EnsembleQ(model.critic, next_obs), ent_coef, model.beta, next_noise)
            mu, log_std = trace.mu, trace.log_std
            estimate = EnsembleQ(model.critic_target, next_obs)
        expected = objective(estimate, mu, log_std, next_noise[-1], ent_coef, model.beta).value
    th.testing.assert_close(target_value[:, 0], expected)
    with th.no_grad():  # and the target critics are the ones bootstrapped from
        online_estimate = (
            ModelBasedValue(model.policy.estimator, next_obs, model.critic, model.policy.distilled_policy, ent_coef)
            if model_based_target
            else EnsembleQ(model.critic, next_obs)
        )
        online = objective(online_estimate, mu, log_std, next_noise[-1], ent_coef, model.beta).value
    assert not th.allclose(target_value[:, 0], online)


def test_same_seed_same_run():
    first, second = (model_based(env=short_pendulum(), seed=3).learn(80) for _ in range(2))
    for (key, value), other in zip(first.policy.state_dict().items(), second.policy.state_dict().values(), strict=True):
        assert th.equal(value, other), key


@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_save_load_keeps_predictions_and_continues_training(tmp_path, actor):
    model = model_based(actor, env=short_pendulum()).learn(80)
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")

    loaded = IterativeSAC.load(tmp_path / "model.zip", env=short_pendulum())
    assert loaded.policy.value_estimator == "model" and loaded.policy.rollout_horizon == 2
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key
    names = ["policy.estimator.optimizer"] + (["policy.distilled_policy.optimizer"] if actor == "iterative" else [])
    for name in names:
        saved, restored = (m.policy.estimator if "estimator" in name else m.policy.distilled_policy for m in (model, loaded))
        assert saved.optimizer.state_dict()["state"].keys() == restored.optimizer.state_dict()["state"].keys()
        for index, state in saved.optimizer.state_dict()["state"].items():
            assert th.equal(state["exp_avg"], restored.optimizer.state_dict()["state"][index]["exp_avg"]), name
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)

    policy_path = tmp_path / "policy.pth"
    model.policy.save(policy_path)
    np.testing.assert_array_equal(IterativeSACPolicy.load(policy_path).predict(obs, deterministic=True)[0], actions)

    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    before = {key: value.clone() for key, value in loaded.policy.state_dict().items()}
    loaded.learn(20, reset_num_timesteps=False)
    after = loaded.policy.state_dict()
    assert any(not th.equal(before[key], after[key]) for key in before if key.startswith("estimator."))


def randomized(model: IterativeSAC, seed: int) -> IterativeSAC:
    """The iterative optimizer's heads (zero at initialisation) set at random, so that λ depends on the input."""
    th.manual_seed(seed)
    for param in model.actor.update_and_gate.parameters():
        nn.init.normal_(param, std=0.3)
    return model


def test_transfer_acts_with_the_source_optimizer_on_the_target_objective():
    source = randomized(IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[32, 32]), seed=1), 1)
    target = randomized(model_based(), 2)
    with th.no_grad():
        target.policy.estimator.dynamics.reward_net[-1].weight.normal_(std=0.5)  # a model that predicts rewards
    states = {
        name: {key: value.clone() for key, value in m.policy.state_dict().items()}
        for name, m in (("s", source), ("t", target))
    }

    moved = analysis.transfer_optimizer(source, target)
    obs = np.stack([source.observation_space.sample() for _ in range(5)])
    actions, _ = moved.predict(obs, deterministic=True)

    obs_tensor = th.as_tensor(obs)
    alpha = th.exp(target.log_ent_coef.detach())
    with th.no_grad():
        value_estimate = target.policy.value_estimate(
            obs_tensor, alpha, generator=th.Generator().manual_seed(ROLLOUT_SEED), shared_noise=True
        )
        assert isinstance(value_estimate, ModelBasedValue)
        by_hand = source.actor(obs_tensor, value_estimate, beta=1.0, deterministic=True, ent_coef=alpha)
    np.testing.assert_allclose(actions, source.policy.unscale_action(by_hand.numpy()), rtol=0, atol=1e-6)
    assert not np.allclose(actions, source.predict(obs, deterministic=True)[0])  # the objective changed
    assert not np.allclose(actions, target.predict(obs, deterministic=True)[0])  # the optimizer is the source's

    mean_return, _ = evaluate_policy(moved, Monitor(short_pendulum()), n_eval_episodes=1)
    assert np.isfinite(mean_return)
    for name, m in (("s", source), ("t", target)):
        for key, value in m.policy.state_dict().items():
            assert th.equal(value, states[name][key]), (name, key)


def test_transfer_refuses_a_direct_actor():
    direct = IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="direct"))
    with pytest.raises(ValueError, match=r"direct actor .* has no optimizer to transfer"):
        analysis.transfer_optimizer(direct, model_based())


def test_analyses_run_on_a_model_based_agent(tmp_path):
    model = randomized(model_based(), 3)
    with th.no_grad():  # a model whose predictions depend on the action
        model.policy.estimator.dynamics.state_net[-1].weight.normal_(std=0.3)
    model.observation_space.seed(0)
    states = np.stack([model.observation_space.sample() for _ in range(3)])
    results = run_analyses(
        model, "Pendulum-v1", tmp_path, n_iterations=6, adam_steps=5, cem_steps=3, n_runs=3, resolution=5,
        value_pairs=3, horizon=3, states=states,
    )  # fmt: skip
    assert results["model"]["value_estimator"] == "model"
    assert (tmp_path / "planning.png").exists() and results["planning"]["horizon"] == 2
    assert len(results["planning"]["objective"]) == model.policy.n_iterations + 1

    plans = analysis.planned_trajectories(model, states[0])
    with th.no_grad():
        for k in range(len(plans.actions)):  # each planned trajectory is the model's prediction from tanh(µ_k)
            first = model.policy.estimator.dynamics(th.as_tensor(states[:1]), th.as_tensor(plans.actions[k : k + 1]))[0]
            np.testing.assert_allclose(plans.states[k, 1], first[0].numpy(), rtol=0, atol=1e-5)
    assert len({tuple(np.round(step, 6)) for step in plans.states[:, 1]}) > 1  # the plan moves with λ_k


def test_planned_trajectories_need_a_model():
    model = IterativeSAC("MlpPolicy", ContextualBandit(), policy_kwargs=dict(net_arch=[8, 8]))
    with pytest.raises(ValueError, match="need a model-based objective"):
        analysis.planned_trajectories(model, np.zeros(2, dtype=np.float32))


@pytest.mark.expensive
@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_model_based_agent_learns_state_dependent_best_action(actor):
    model = IterativeSAC(
        "MlpPolicy", ContextualBandit(), learning_starts=200, batch_size=64, learning_rate=3e-3, seed=0, device="cpu",
        model_pretrain_steps=200, beta=1.0 if actor == "direct" else 2.5,
        policy_kwargs=dict(actor=actor, net_arch=[64, 64], value_estimator="model"),
    )  # fmt: skip
    model.learn(1200)

    states = np.random.default_rng(1).uniform(-1.0, 1.0, size=(200, 2)).astype(np.float32)
    actions, _ = model.predict(states, deterministic=True)
    error = np.abs(actions - ContextualBandit.best_action(states))
    assert error.mean() < 0.1, error.mean()
    assert np.corrcoef(actions[:, 0], states[:, 0])[0, 1] > 0.95
