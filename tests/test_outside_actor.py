"""A new kind of actor is one class and one entry in ``AMORTIZERS``: here, written outside the package, SAC's direct
actor with a floor under log σ, which training, the critic target, acting, saving and the analyses all take from
its class, and which a base that declares the actors it takes refuses."""

from typing import Any, ClassVar

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_iterative import IterativeCrossQ, IterativeSAC, analysis
from sb3_iterative.common import amortizers
from sb3_iterative.common.amortizers import DirectAmortizer
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution

from helpers import SMALL

# log σ ≥ 0.5: above what SAC's actor starts with (about 0), so that the floor decides every λ at first
LOG_STD_FLOOR = 0.5


class FlooredAmortizer(DirectAmortizer):
    """SAC's direct actor whose λ has log σ floored at LOG_STD_FLOOR, in training, the target and acting alike."""

    kind: ClassVar[str] = "floored"
    NAMED: ClassVar[str] = "actor='floored'"

    def parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, PolicyDistribution]:
        mu, log_std, distribution = super().parameters(obs)
        return mu, log_std.clamp(min=LOG_STD_FLOOR), distribution

    def act(self, obs: PyTorchObs, value_estimate: Any, beta: float, deterministic: bool, *args: Any, **kw: Any) -> th.Tensor:
        mu, log_std, _ = self.parameters(obs)
        return (
            TANH_GAUSSIAN.mode(mu, log_std)
            if deterministic
            else TANH_GAUSSIAN.reparameterize(mu, log_std, th.randn_like(mu))[2]
        )


@pytest.fixture
def floored(monkeypatch):
    monkeypatch.setitem(amortizers.AMORTIZERS, FlooredAmortizer.kind, FlooredAmortizer)


def test_an_actor_outside_the_package_is_one_class_and_one_entry(floored, tmp_path):
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(net_arch=[16, 16], actor="floored"), **SMALL)
    policy = model.policy
    assert isinstance(policy.amortizer, FlooredAmortizer) and policy.actor_kind == "floored" and not policy.iterative
    model.learn(80)
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(64)]))
    with th.no_grad():
        raw_log_std = policy.actor.get_action_dist_params(obs)[1]
        noise = policy.sample_noise(64)
        trace = policy.optimize(obs, None, 0.1, 1.0, noise)  # the entry training and the target use
        next_sample = model._next_sample(obs, th.tensor(0.1), noise)  # the critic target's a' and log π'
    assert (raw_log_std < LOG_STD_FLOOR).any()  # the floor bites
    assert (trace.log_std >= LOG_STD_FLOOR).all()
    # the critic target samples a' from the floored λ', not from the raw one
    th.testing.assert_close(next_sample, TANH_GAUSSIAN.sample(trace.mu, trace.log_std, noise[-1]))
    assert not th.allclose(next_sample[1], TANH_GAUSSIAN.sample(trace.mu, raw_log_std, noise[-1])[1])
    # acting: tanh of the floored λ's mode (the mean: the floor does not move it)
    th.testing.assert_close(policy._predict(obs, deterministic=True), th.tanh(trace.mu))
    # the analyses take it as a direct actor: one λ per state, the floored one
    gap = analysis.amortization_gap(model, obs.numpy(), n_steps=5, seed=0)
    assert gap.gap.shape == (64,)
    model.save(tmp_path / "floored.zip")
    assert isinstance(IterativeSAC.load(tmp_path / "floored.zip").policy.amortizer, FlooredAmortizer)


def test_a_new_actor_is_named_in_the_error_and_refused_by_a_base_that_declares_its_actors(floored):
    with pytest.raises(ValueError, match=r"actor must be one of \('iterative', 'direct', 'flow', 'floored'\)"):
        IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="floating"))
    with pytest.raises(ValueError, match=r"actor must be 'iterative' or 'direct' for IterativeCrossQPolicy"):
        IterativeCrossQ("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="floored"))
    # another kind's keywords are refused with it, as with the package's direct actor
    with pytest.raises(
        ValueError, match=r"residual_update applies to the iterative actor only .this policy has actor='floored'"
    ):
        IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="floored", residual_update=True))
