"""IterativeCrossQ: the iterative actor on sb3-contrib's CrossQ (batch-renormalized critics, no target
networks, a delayed actor)."""

import numpy as np
import pytest
import torch as th
from sb3_contrib import CrossQ
from sb3_contrib.common.torch_layers import BatchRenorm, BatchRenorm1d

from sb3_iterative import IterativeCrossQ
from sb3_iterative.iterative_crossq.policies import batch_statistics

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


def renorm_steps(module) -> set[int]:
    """How many training-mode passes each batch renormalization layer of ``module`` has seen."""
    return {int(layer.steps) for layer in module.modules() if isinstance(layer, BatchRenorm)}


def test_batch_statistics_sets_the_renormalization_layers_mode_inside_and_restores_it_after():
    """batch_statistics(module, training): every batch renormalization layer of ``module`` in training mode (batch
    statistics, the running ones updated) or evaluation mode (running statistics) inside, the other layers left
    alone; each layer back in its own mode after, an error included; a module that is None changes nothing."""
    th.manual_seed(0)
    module = th.nn.Sequential(BatchRenorm1d(4), th.nn.Linear(4, 4), th.nn.Dropout(0.5), BatchRenorm1d(4))
    renorms, others = [module[0], module[3]], [module, module[1], module[2]]
    module.train(False)
    module[0].train(True)
    module[2].train(True)
    modes = [layer.training for layer in module.modules()]
    for training in (True, False):
        with batch_statistics(module, training):
            assert [layer.training for layer in renorms] == [training, training]
            assert [layer.training for layer in others] == [False, False, True]
        assert [layer.training for layer in module.modules()] == modes
    with pytest.raises(KeyError), batch_statistics(module, False):
        raise KeyError("an error inside")
    assert [layer.training for layer in module.modules()] == modes
    with batch_statistics(None, True):
        pass

    obs = 3 * th.randn(16, 4) + 1
    statistics = {key: value.clone() for key, value in module.state_dict().items()}
    with batch_statistics(module, False):
        module(obs)  # on the running statistics: nothing moves
    assert all(th.equal(value, statistics[key]) for key, value in module.state_dict().items())
    with batch_statistics(module, True):
        module(obs)  # on the batch's: the running statistics move, each layer counts a step
    for index in (0, 3):
        assert not th.equal(module[index].ra_mean, statistics[f"{index}.ra_mean"])
        assert int(module[index].steps) == int(statistics[f"{index}.steps"]) + 1


@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_critics_serve_as_j_on_their_running_statistics(actor):
    """The critics' statistics move once per gradient step, in the joint pass, never while they serve as J
    (the K iterations of the target, of the actor's step and of acting); a direct actor's once per actor update."""
    model = IterativeCrossQ(
        "MlpPolicy", ENV, learning_starts=50, batch_size=32, policy_delay=3, seed=0, policy_kwargs=dict(NETS, actor=actor)
    ).learn(110)
    assert model._n_updates == 60
    assert renorm_steps(model.critic) == {60}
    if actor == "direct":
        assert renorm_steps(model.actor) == {20}
    else:
        assert renorm_steps(model.actor) == set()  # f_φ has none: its inputs are normalized per state
    state = {key: value.clone() for key, value in model.critic.state_dict().items()}
    model.predict(np.zeros((4, 3), dtype=np.float32))
    for key, value in model.critic.state_dict().items():
        assert th.equal(value, state[key]), key


def test_distilled_policy_moves_its_statistics_only_when_it_trains():
    """The warm start and the distilled target read the distilled policy (CrossQ's actor) on its running statistics."""
    model = IterativeCrossQ(
        "MlpPolicy",
        ENV,
        learning_starts=50,
        batch_size=32,
        policy_delay=2,
        seed=0,
        policy_kwargs=dict(NETS, warm_start=True, distilled_target=True, n_iterations=2),
    ).learn(110)
    assert model._n_updates == 60 and renorm_steps(model.policy.distilled_policy) == {30}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(policy_delay=0), r"policy_delay must be an integer >= 1, got 0"),
        (dict(policy_delay=1.5), r"policy_delay must be an integer >= 1, got 1.5"),
        (dict(policy_kwargs=dict(critic_arch="B")), r"critic_arch must be 'A' for IterativeCrossQPolicy"),
        (dict(policy_kwargs=dict(value_estimator="model")), r"value_estimator must be 'critic' .* target critics"),
    ],
)
def test_what_only_crossq_refuses(kwargs, message):
    """What every algorithm refuses alike is tested in test_bad_input.py."""
    with pytest.raises(ValueError, match=message):
        IterativeCrossQ("MlpPolicy", ENV, device="cpu", **kwargs)


@pytest.mark.parametrize("policy", ["CnnPolicy", "MultiInputPolicy"])
def test_other_policies_are_refused(policy):
    with pytest.raises(
        ValueError, match=rf"policy: IterativeCrossQ has MlpPolicy only, as sb3-contrib's CrossQ \(no {policy}\)"
    ):
        IterativeCrossQ(policy, ENV, device="cpu")
