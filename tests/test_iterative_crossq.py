"""IterativeCrossQ: the iterative actor on sb3-contrib's CrossQ (batch-renormalized critics, no target
networks, a delayed actor)."""

import pytest
import torch as th
from sb3_contrib import CrossQ

from sb3_iterative import IterativeCrossQ

ENV = "Pendulum-v1"
# CrossQ's networks, narrower (its default critic is 2 × 1024): a test trains in seconds
NETS = dict(net_arch=dict(pi=[64, 64], qf=[128, 128]))


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(ent_coef=0.05, n_steps=3, gradient_steps=2, policy_delay=2),
        dict(policy_delay=1, policy_kwargs=dict(renorm_warmup_steps=50, n_critics=2)),
    ],
)
def test_direct_actor_reproduces_crossq(options):
    """actor="direct", β = 1 (two critics: their min): IterativeCrossQ is sb3-contrib's CrossQ, parameter for
    parameter (the batch renormalization's running statistics and step counters included)."""
    policy_kwargs = {**NETS, **options.pop("policy_kwargs", {})}
    common = dict(seed=3, learning_starts=100, batch_size=64, device="cpu", **options)
    crossq = CrossQ("MlpPolicy", ENV, policy_kwargs=policy_kwargs, **common).learn(400)
    ours = IterativeCrossQ("MlpPolicy", ENV, beta=1.0, policy_kwargs=dict(policy_kwargs, actor="direct"), **common).learn(400)

    assert ours._n_updates == crossq._n_updates > 0
    crossq_state, our_state = crossq.policy.state_dict(), ours.policy.state_dict()
    assert crossq_state.keys() == our_state.keys()
    assert any("ra_mean" in key for key in crossq_state)
    for key in crossq_state:
        assert th.equal(crossq_state[key], our_state[key]), key
    if crossq.log_ent_coef is not None:
        assert th.equal(crossq.log_ent_coef, ours.log_ent_coef)
    assert (crossq.replay_buffer.actions == ours.replay_buffer.actions).all()


def test_pessimism_breaks_the_crossq_equality():
    """The same comparison fails once β differs from 1: the test can tell the two apart."""
    common = dict(seed=3, learning_starts=100, batch_size=64, device="cpu", policy_kwargs=NETS)
    crossq = CrossQ("MlpPolicy", ENV, **common).learn(200)
    ours = IterativeCrossQ("MlpPolicy", ENV, beta=2.5, **{**common, "policy_kwargs": dict(NETS, actor="direct")}).learn(200)
    key = "critic.qf0.1.weight"
    assert not th.equal(crossq.policy.state_dict()[key], ours.policy.state_dict()[key])
