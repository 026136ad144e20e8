"""The distilled direct policy beyond the model-based estimate: the critic's target from it
(``distilled_target``) and the iterative optimizer started from it (``warm_start``)."""

import numpy as np
import pytest
import torch as th
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

from sb3_iterative import IterativeSAC, IterativeSACPolicy
from sb3_iterative.common.iterative_actor import soft_clamp

from helpers import SMALL, next_value, observations


def iterative(seed: int = 0, **policy_kwargs) -> IterativeSAC:
    return IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[32, 32], **policy_kwargs), seed=seed, **SMALL)


def set_constant(model: IterativeSAC, mu: float, raw_log_std: float) -> float:
    """Make the iterative optimizer give λ = (mu, soft_clamp(raw_log_std)) at every iteration, for any input
    (update heads constant, gates shut); return that log σ."""
    head = model.actor.update_and_gate
    action_dim = model.actor.action_dim
    with th.no_grad():
        head.weight.zero_()
        head.bias.copy_(th.tensor([mu] * action_dim + [raw_log_std] * action_dim + [-1e4] * (2 * action_dim)))
    return float(soft_clamp(th.tensor(raw_log_std), LOG_STD_MIN, LOG_STD_MAX))


def set_distilled(model: IterativeSAC, mu: float, log_std: float) -> None:
    """Make the distilled policy give λ = (mu, log_std) for any state."""
    distilled = model.policy.distilled_policy
    with th.no_grad():
        for layer, value in ((distilled.mu, mu), (distilled.log_std, log_std)):
            layer.weight.zero_()
            layer.bias.fill_(value)


def test_distilled_target_equals_the_iterative_one_when_the_distilled_policy_is_pi_iter():
    model = iterative(distilled_target=True).learn(60)
    log_std = set_constant(model, 0.3, -1.0)
    batch = model.replay_buffer.sample(32)
    ent_coef = model._current_ent_coef()
    noise = model.policy.sample_noise(32)
    with th.no_grad():
        set_distilled(model, 0.3, log_std)
        distilled = next_value(model, batch.next_observations, ent_coef, noise)
        set_distilled(model, -0.3, log_std)
        other = next_value(model, batch.next_observations, ent_coef, noise)
        model.policy.distilled_target = False
        iterative_target = next_value(model, batch.next_observations, ent_coef, noise)
    np.testing.assert_allclose(distilled.numpy(), iterative_target.numpy(), rtol=1e-6)
    assert not th.allclose(other, iterative_target)  # the target does follow the distilled policy


def test_warm_start_begins_at_the_distilled_policy_and_k_0_acts_as_it():
    model = iterative(warm_start=True).learn(80)
    obs = observations(model, 6)
    obs_tensor = th.as_tensor(obs)
    distilled = model.policy.distilled_policy
    with th.no_grad():
        mu, log_std, _ = distilled.get_action_dist_params(obs_tensor)
        value_estimate = model.policy.value_estimate(obs_tensor, model._current_ent_coef())
        trace = model.policy.optimize(
            obs_tensor, value_estimate, model._current_ent_coef(), model.beta, model.policy.sample_noise(6)
        )
    assert th.equal(trace.lambdas[0][0], mu) and th.equal(trace.lambdas[0][1], log_std)
    assert not th.equal(trace.mu, mu)  # K = 5 iterations move it

    model.policy.n_iterations = 0
    with th.no_grad():
        expected = model.policy.unscale_action(distilled(obs_tensor, deterministic=True).numpy())
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], expected)
    with pytest.raises(ValueError, match="n_iterations=0 leaves the iterative actor nothing to train"):
        model.learn(10, reset_num_timesteps=False)


def test_the_fixed_start_has_no_distilled_policy():
    model = iterative()
    assert model.policy.distilled_policy is None and model.policy.amortizer.initial(th.zeros(2, 3)) is None


def test_options_train_the_distilled_policy_and_survive_save_load(tmp_path):
    model = iterative(warm_start=True, distilled_target=True, n_iterations=2).learn(80)
    assert model.logger.name_to_value["train/distillation_kl"] > 0
    obs = observations(model, 6)
    actions, _ = model.predict(obs, deterministic=True)
    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.policy.options.warm_start and loaded.policy.distilled_target
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    model.policy.save(tmp_path / "policy.pth")
    np.testing.assert_array_equal(
        IterativeSACPolicy.load(tmp_path / "policy.pth").predict(obs, deterministic=True)[0], actions
    )


@pytest.mark.parametrize(
    ("policy_kwargs", "match"),
    [
        (dict(actor="direct", warm_start=True), "warm_start applies to the iterative actor only"),
        (dict(actor="flow", distilled_target=True), "distilled_target applies to the iterative actor only"),
        (dict(actor="direct", distilled_target=0), "distilled_target must be True or False"),
        (dict(distilled_target="yes"), "distilled_target must be True or False"),
        (dict(warm_start=1), "warm_start must be True or False"),
        (dict(n_iterations=0), "n_iterations must be an integer >= 1"),
        (dict(warm_start=True, n_iterations=-1), "n_iterations must be an integer >= 0"),
    ],
)
def test_bad_options_are_refused(policy_kwargs, match):
    with pytest.raises(ValueError, match=match):
        IterativeSAC("MlpPolicy", "Pendulum-v1", beta=1.0 if "actor" in policy_kwargs else 2.5, policy_kwargs=policy_kwargs)


def test_the_warm_start_is_chosen_when_the_policy_is_built():
    """Set afterwards it would change nothing (the distilled policy it starts from is made with the policy) and leave
    a model that does not load: refused, the settings as they were."""
    policy = IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[8])).policy
    with pytest.raises(ValueError, match="warm_start is chosen when the policy is built"):
        policy.set_options(warm_start=True)
    assert not policy.options.warm_start and policy.distilled_policy is None
    policy.set_options(warm_start=False)  # no change: accepted
