"""Arguments IterativeSAC cannot use raise an error that names them."""

import pytest
import torch as th
from gymnasium.spaces import Box

from sb3_iterative import IterativeSAC, IterativeSACPolicy

SMALL = dict(learning_starts=50, batch_size=32)


def make_model(env: str = "Pendulum-v1", policy_kwargs=None, **kwargs) -> IterativeSAC:
    policy_kwargs = dict(net_arch=[32, 32], **(policy_kwargs or {}))
    return IterativeSAC("MlpPolicy", env, **{**SMALL, **kwargs}, policy_kwargs=policy_kwargs)


def test_discrete_actions():
    with pytest.raises(AssertionError, match="action spaces"):
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


def test_non_finite_critic_while_acting():
    model = make_model()
    with th.no_grad():
        next(model.critic.q_networks[0].parameters()).fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite"):
        model.predict(model.observation_space.sample(), deterministic=True)
