"""Arguments IterativeSAC cannot use raise an error that names them."""

import numpy as np
import pytest
import torch as th
from gymnasium.spaces import Box, Dict

from sb3_iterative import IterativeSAC, IterativeSACPolicy

from helpers import SMALL


def make_model(env: str = "Pendulum-v1", policy_kwargs=None, **kwargs) -> IterativeSAC:
    policy_kwargs = dict(net_arch=[32, 32], **(policy_kwargs or {}))
    return IterativeSAC("MlpPolicy", env, **{**SMALL, **kwargs}, policy_kwargs=policy_kwargs)


def test_discrete_actions():
    with pytest.raises(
        ValueError, match=r"env: IterativeSAC needs a continuous action space \(gymnasium.spaces.Box\), got Discrete\(2\)"
    ):
        make_model("CartPole-v1")


@pytest.mark.parametrize("kwargs", [dict(use_sde=True), dict(use_sde_at_warmup=True)])
def test_gsde(kwargs):
    with pytest.raises(ValueError, match=r"gSDE \(use_sde=True\)"):
        make_model(**kwargs)


def test_gsde_policy():
    # SB3 overwrites policy_kwargs["use_sde"] with the algorithm's, so the policy checks it when built alone
    with pytest.raises(ValueError, match="use_sde"):
        IterativeSACPolicy(Box(-1, 1, (2,)), Box(-1, 1, (1,)), lambda _: 1e-3, use_sde=True)


@pytest.mark.parametrize(
    "policy_kwargs, match",
    [
        (dict(n_iterations=0), "n_iterations"),
        (dict(n_action_samples=0), "n_action_samples"),
        (dict(actor="bogus"), "actor"),
        (dict(critic_arch="C"), "critic_arch"),
        (dict(init_std=0.0), "init_std"),
        (dict(init_std=-0.5), "init_std"),
        (dict(beta_collect=float("nan")), "beta_collect"),
        (dict(beta_collect=float("inf")), "beta_collect"),
        (dict(beta_collect=1.0, n_critics=1), "beta_collect"),
        (dict(value_estimator="planner"), "value_estimator"),
        (dict(value_estimator="model", rollout_horizon=-1), "rollout_horizon"),
        (dict(value_estimator="model", rollout_horizon=1.5), "rollout_horizon"),
        (dict(value_estimator="model", retrace_lambda=1.1), "retrace_lambda"),
        (dict(value_estimator="model", retrace_lambda=-0.1), "retrace_lambda"),
    ],
)
def test_bad_policy_kwargs(policy_kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_model(policy_kwargs=policy_kwargs)


@pytest.mark.parametrize("beta", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_beta(beta):
    with pytest.raises(ValueError, match="beta must be a finite number"):
        make_model(beta=beta)


def test_pessimism_needs_an_ensemble():
    with pytest.raises(ValueError, match=r"beta=2\.5 .*n_critics=1"):
        make_model(beta=2.5, policy_kwargs=dict(n_critics=1, beta_collect=0.0))


def test_single_critic_without_pessimism():
    model = make_model(beta=0.0, policy_kwargs=dict(n_critics=1, beta_collect=0.0))
    model.learn(80)
    assert len(model.critic.q_networks) == 1
    assert model._n_updates == 30
    assert all(th.isfinite(param).all() for param in model.policy.parameters())


@pytest.mark.parametrize("gradient_steps", [1, 4])
def test_training_that_diverges_stops_at_the_end_of_its_train_call(gradient_steps):
    # the steps' checks are read once per train() call (no host synchronization inside a gradient step)
    model = make_model().learn(60)
    with th.no_grad():
        next(model.critic.q_networks[0].parameters()).fill_(float("nan"))
    updates = model._n_updates
    with pytest.raises(RuntimeError, match="non-finite values while the actor optimized J: training diverged"):
        model.train(gradient_steps, batch_size=32)
    assert model._n_updates == updates + gradient_steps  # every step of the call ran, then the check


def test_non_finite_critic_while_acting():
    model = make_model()
    with th.no_grad():
        next(model.critic.q_networks[0].parameters()).fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite"):
        model.predict(model.observation_space.sample(), deterministic=True)


@pytest.mark.parametrize("model_pretrain_steps", [-1, 2.5, True])
def test_model_pretrain_steps(model_pretrain_steps):
    with pytest.raises(ValueError, match="model_pretrain_steps"):
        make_model(model_pretrain_steps=model_pretrain_steps, policy_kwargs=dict(value_estimator="model"))


@pytest.mark.parametrize("kwargs", [dict(model_pretrain_steps=10), dict(model_based_target=False)])
def test_model_based_options_need_the_model_based_estimate(kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} applies to value_estimator='model' only"):
        make_model(**kwargs)


@pytest.mark.parametrize("policy_kwargs", [dict(rollout_horizon=2), dict(retrace_lambda=0.5)])
def test_model_based_policy_options_need_the_model_based_estimate(policy_kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(policy_kwargs))} applies to value_estimator='model' only"):
        make_model(policy_kwargs=policy_kwargs)


def test_model_based_target_is_a_bool():
    with pytest.raises(ValueError, match="model_based_target"):
        make_model(model_based_target="yes", policy_kwargs=dict(value_estimator="model"))


@pytest.mark.parametrize(
    "observation_space",
    [Box(0, 255, (36, 36, 1), dtype=np.uint8), Dict({"position": Box(-1, 1, (2,)), "goal": Box(-1, 1, (2,))})],
)
def test_model_based_needs_flat_observations(observation_space):
    with pytest.raises(ValueError, match="value_estimator='model' needs flat vector observations"):
        IterativeSACPolicy(observation_space, Box(-1, 1, (1,)), lambda _: 1e-3, value_estimator="model")
