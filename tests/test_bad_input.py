"""Arguments an algorithm cannot use raise an error that names them, and non-finite values stop it, for every
algorithm (over ``MODEL_LIST``). What only one base refuses is tested beside it (test_iterative_tqc.py,
test_iterative_crossq.py; the model-based estimate's options, IterativeSAC's, in test_model_based.py)."""

import pytest
import torch as th
from gymnasium.spaces import Box

from sb3_iterative import IterativeCrossQ, IterativeTQC

from helpers import MODEL_LIST, POLICY_KWARGS, SMALL, make_model

# The bases whose Q̂_β is the ensemble's mean − β·std (TQC's drops quantiles: tested in test_iterative_tqc.py)
STD_PESSIMISM = [algorithm for algorithm in MODEL_LIST if algorithm is not IterativeTQC]


def make_algorithm(algorithm, env="Pendulum-v1", **kwargs):
    """``algorithm`` with algorithm arguments ``kwargs`` (``make_model`` takes the policy's)."""
    policy_kwargs = {**POLICY_KWARGS[algorithm], **kwargs.pop("policy_kwargs", {})}
    return algorithm("MlpPolicy", env, **{**SMALL, **kwargs}, device="cpu", policy_kwargs=policy_kwargs)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_discrete_actions(algorithm):
    message = rf"env: {algorithm.__name__} needs a continuous action space \(gymnasium.spaces.Box\), got Discrete\(2\)"
    with pytest.raises(ValueError, match=message):
        make_algorithm(algorithm, "CartPole-v1")


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(use_sde=True), r"{name} does not support gSDE \(use_sde=True\)"),
        (dict(use_sde_at_warmup=True), r"{name} does not support gSDE \(use_sde=True\)"),
        (dict(compile_training="fast"), r"compile_training must be True, False or one of torch.compile's modes"),
    ],
)
def test_bad_algorithm_arguments(algorithm, kwargs, message):
    with pytest.raises(ValueError, match=message.format(name=algorithm.__name__)):
        make_algorithm(algorithm, **kwargs)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_gsde_policy(algorithm):
    # SB3 overwrites policy_kwargs["use_sde"] with the algorithm's, so the policy checks it when built alone
    policy_class = algorithm.policy_aliases["MlpPolicy"]
    with pytest.raises(ValueError, match=rf"{policy_class.__name__} does not support gSDE \(use_sde=True\)"):
        policy_class(Box(-1, 1, (2,)), Box(-1, 1, (1,)), lambda _: 1e-3, use_sde=True)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize(
    "policy_kwargs, message",
    [
        (dict(n_iterations=0), r"n_iterations must be an integer >= 1, got 0"),
        (dict(n_action_samples=0), r"n_action_samples must be an integer >= 1, got 0"),
        (dict(actor="bogus"), r"actor must be .*got 'bogus'"),
        (dict(critic_arch="C"), r"critic_arch must be .*got 'C'"),
        (dict(value_estimator="planner"), r"value_estimator must be .*got 'planner'"),
        (dict(init_std=0.0), r"init_std must be a finite number > 0, got 0.0"),
        (dict(init_std=-0.5), r"init_std must be a finite number > 0, got -0.5"),
        (dict(beta_collect=float("nan")), r"beta_collect .*got nan"),
        (dict(beta_collect=float("inf")), r"beta_collect .*got inf"),
        (dict(log_std_init=-2), r"log_std_init is an option of gSDE \(use_sde=True\), which .* does not support"),
        (dict(rollout_horizon=2), r"rollout_horizon applies to value_estimator='model' only"),
        (dict(retrace_lambda=0.5), r"retrace_lambda applies to value_estimator='model' only"),
    ],
)
def test_bad_policy_kwargs(algorithm, policy_kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_model(algorithm, **policy_kwargs)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize("beta", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_beta(algorithm, beta):
    check = (
        "beta is the number of top quantiles dropped per critic"
        if algorithm is IterativeTQC
        else "beta must be a finite number"
    )
    with pytest.raises(ValueError, match=rf"{check}.*, got {beta}"):
        make_algorithm(algorithm, beta=beta)


@pytest.mark.parametrize("algorithm", STD_PESSIMISM)
def test_pessimism_needs_an_ensemble(algorithm):
    with pytest.raises(ValueError, match=r"beta=2\.5 needs an ensemble: with n_critics=1"):
        make_algorithm(algorithm, beta=2.5, policy_kwargs=dict(n_critics=1, beta_collect=0.0))
    with pytest.raises(ValueError, match=r"beta_collect=1\.0 needs an ensemble: with n_critics=1"):
        make_model(algorithm, n_critics=1, beta_collect=1.0)


@pytest.mark.parametrize("algorithm", STD_PESSIMISM)
def test_single_critic_without_pessimism(algorithm):
    model = make_algorithm(algorithm, beta=0.0, policy_kwargs=dict(n_critics=1, beta_collect=0.0)).learn(80)
    assert len(model.critic.q_networks) == 1
    assert model._n_updates == 30
    assert all(th.isfinite(param).all() for param in model.policy.parameters())


@pytest.mark.parametrize("algorithm", MODEL_LIST)
@pytest.mark.parametrize("gradient_steps", [1, 4])
def test_training_that_diverges_stops_at_the_end_of_its_train_call(algorithm, gradient_steps):
    # the steps' checks are read once per train() call (no host synchronization inside a gradient step)
    model = make_model(algorithm).learn(60)
    with th.no_grad():
        next(model.critic.q_networks[0].parameters()).fill_(float("nan"))
    model._n_updates = 2  # the next is the third update: it trains the actor, CrossQ's delayed one too (policy_delay 3)
    with pytest.raises(RuntimeError, match="non-finite values while the actor optimized J: training diverged"):
        model.train(gradient_steps, batch_size=32)
    assert model._n_updates == 2 + gradient_steps  # every step of the call ran, then the check


def test_critics_that_diverge_on_a_step_without_the_actor_stop_training_too():
    # CrossQ trains its actor every third step (policy_delay 3): the critics' own loss is checked on every step
    model = make_model(IterativeCrossQ).learn(60)
    with th.no_grad():
        next(model.critic.q_networks[0].parameters()).fill_(float("nan"))
    model._n_updates = 0  # the next is the first update: the critics train, the actor does not
    with pytest.raises(RuntimeError, match="The critics' loss became non-finite: training diverged"):
        model.train(1, batch_size=32)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_non_finite_critic_while_acting(algorithm):
    model = make_model(algorithm)
    with th.no_grad():
        next(model.critic.q_networks[0].parameters()).fill_(float("nan"))
    with pytest.raises(RuntimeError, match="non-finite"):
        model.predict(model.observation_space.sample(), deterministic=True)
