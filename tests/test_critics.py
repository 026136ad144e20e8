"""The critic architectures and the critic ensemble as J's value estimate (sb3_iterative/critics.py):
EnsembleQ's Q values and its fast batched action gradient against autograd, and which critics take it."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib.crossq.policies import CrossQCritic
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_iterative.critics import CriticStacks, EnsembleQ, HighwayCritic, make_critic
from sb3_iterative.objective import autograd_action_gradient, autograd_value_gradient

BATCH, ACTION_DIM, N_SAMPLES = 8, 3, 4


@pytest.fixture(autouse=True)
def seed():
    th.manual_seed(0)


def test_ensemble_q_function_matches_critic_forward():
    observation_space, action_space = spaces.Box(-1, 1, (2,)), spaces.Box(-1, 1, (ACTION_DIM,))
    critic = ContinuousCritic(
        observation_space, action_space, [16], FlattenExtractor(observation_space), features_dim=2, n_critics=3
    )
    obs, actions = th.randn(BATCH, 2), th.rand(N_SAMPLES, BATCH, ACTION_DIM) * 2 - 1
    q_values = EnsembleQ(critic, obs)(actions)
    assert q_values.shape == (N_SAMPLES, BATCH, 3)
    for sample in range(N_SAMPLES):
        expected = th.cat(critic(obs, actions[sample]), dim=1)
        th.testing.assert_close(q_values[sample], expected)


@pytest.mark.parametrize("activation_fn", [nn.ReLU, nn.Tanh])
@pytest.mark.parametrize(("n_critics", "beta"), [(2, 1.0), (2, 2.5), (3, 0.0), (5, 2.5)])
def test_ensemble_fast_action_gradient_equals_autograd(activation_fn, n_critics, beta, device):
    """EnsembleQ's batched, hand-written backward through an MLP ensemble is autograd's gradient."""
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = ContinuousCritic(
        observation_space, action_space, [32, 16], nn.Flatten(), 5, activation_fn=activation_fn, n_critics=n_critics
    ).to(device)
    obs = th.randn(BATCH, 5, device=device)
    actions = th.rand(N_SAMPLES, BATCH, ACTION_DIM, device=device) * 2 - 1
    bound = EnsembleQ(critic, obs)
    assert bound._members is not None  # the fast path is the one under test

    q_values, grad = bound.action_gradient(actions, beta)
    reference_q, reference_grad = autograd_action_gradient(bound, actions, beta)
    th.testing.assert_close(q_values, reference_q, rtol=0, atol=1e-5)
    th.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize(("n_critics", "beta"), [(2, 1.0), (2, 2.5), (3, 0.0)])
def test_ensemble_value_and_action_gradient_is_autograds(n_critics, beta):
    """J's path through the hand-written backward: Q̂_β of the critic's own modules and its gradient by autograd."""
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = ContinuousCritic(observation_space, action_space, [32, 16], nn.Flatten(), 5, n_critics=n_critics)
    obs = th.randn(BATCH, 5)
    actions = th.rand(N_SAMPLES, BATCH, ACTION_DIM) * 2 - 1
    bound = EnsembleQ(critic, obs)
    assert bound.hand_written_gradient  # the fast path is the one under test

    q_hat, grad = bound.value_and_action_gradient(actions, beta)
    reference_q_hat, reference_grad = autograd_value_gradient(bound, actions, beta)
    assert q_hat.shape == (N_SAMPLES, BATCH)
    th.testing.assert_close(q_hat, reference_q_hat, rtol=0, atol=1e-5)
    th.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)
    assert grad.abs().sum() > 0


def test_bindings_share_the_stacks_they_are_lent_and_restack_after_an_optimizer_step():
    """Bindings lent one CriticStacks share the batched weights; a binding without stacks makes its own. After an
    optimizer step (an in-place change of the parameters) a binding lent the same stacks, uncleared, stacks the new
    weights: the kept stack is checked against the critic before it is used."""
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = ContinuousCritic(observation_space, action_space, [16, 16], nn.Flatten(), 5, n_critics=2)
    obs, actions = th.randn(BATCH, 5), th.rand(N_SAMPLES, BATCH, ACTION_DIM) * 2 - 1
    stacks = CriticStacks()
    first, second = EnsembleQ(critic, obs, stacks=stacks), EnsembleQ(critic, obs, stacks=stacks)
    assert first._members is not None and second._members is not None
    assert first._members.layers[1].weight is second._members.layers[1].weight  # one stack for both bindings
    own = EnsembleQ(critic, obs)
    assert own._members is not None and own._members.layers[1].weight is not first._members.layers[1].weight

    optimizer = th.optim.SGD(critic.parameters(), lr=0.1)
    optimizer.zero_grad()
    th.cat(critic(obs, actions[0]), dim=1).sum().backward()
    optimizer.step()
    for after in (EnsembleQ(critic, obs), EnsembleQ(critic, obs, stacks=stacks)):
        q_values, grad = after.action_gradient(actions, 2.5)
        reference_q, reference_grad = autograd_action_gradient(after, actions, 2.5)
        th.testing.assert_close(q_values, reference_q, rtol=0, atol=1e-5)
        th.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)
        assert not th.allclose(q_values, first.action_gradient(actions, 2.5)[0])  # the old binding keeps its snapshot


def test_stack_made_while_acting_serves_a_binding_under_autograd():
    """Acting runs in inference mode; the batched weights it stacks first are ordinary tensors without
    a graph, which a later binding lent the same stacks reuses under autograd."""
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = ContinuousCritic(observation_space, action_space, [16, 16], nn.Flatten(), 5, n_critics=2)
    obs, actions = th.randn(BATCH, 5), th.rand(N_SAMPLES, BATCH, ACTION_DIM) * 2 - 1
    stacks = CriticStacks()
    with th.inference_mode():
        acting = EnsembleQ(critic, obs, stacks=stacks)
        assert acting.hand_written_gradient
        acting.action_gradient(actions, 1.0)
    layers = acting._members.layers  # type: ignore[union-attr]
    assert not any(layer.weight.is_inference() or layer.weight.requires_grad for layer in layers)
    later = EnsembleQ(critic, obs, stacks=stacks)
    assert later._members.layers[1].weight is layers[1].weight  # type: ignore[union-attr]
    q_values, grad = later.action_gradient(actions, 2.5)
    reference_q, reference_grad = autograd_action_gradient(later, actions, 2.5)
    th.testing.assert_close(q_values, reference_q, rtol=0, atol=1e-5)
    th.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)


def test_highway_critic_takes_the_autograd_path():
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = make_critic(
        "B",
        observation_space=observation_space,
        action_space=action_space,
        net_arch=[16, 16],
        features_extractor=nn.Flatten(),
        features_dim=5,
    )
    bound = EnsembleQ(critic, th.randn(BATCH, 5))
    assert bound._members is None and not bound.hand_written_gradient
    actions = th.rand(N_SAMPLES, BATCH, ACTION_DIM) * 2 - 1
    q_values, grad = bound.action_gradient(actions, 2.5)
    assert q_values.shape == (N_SAMPLES, BATCH, 2) and grad.shape == actions.shape
    assert th.isfinite(grad).all() and grad.abs().sum() > 0


def test_ensemble_of_custom_modules_takes_the_autograd_path():
    class Quadratic(nn.Module):  # not an nn.Sequential: no layers to batch
        def forward(self, inputs: th.Tensor) -> th.Tensor:
            return -(inputs[:, -ACTION_DIM:] ** 2).sum(dim=1, keepdim=True)

    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = ContinuousCritic(observation_space, action_space, [8], nn.Flatten(), 5, n_critics=2)
    critic.q_networks = [Quadratic(), Quadratic()]
    bound = EnsembleQ(critic, th.randn(BATCH, 5))
    actions = th.rand(1, BATCH, ACTION_DIM) * 2 - 1
    _, grad = bound.action_gradient(actions, 1.0)
    th.testing.assert_close(grad, -2 * actions)


def test_critic_architectures_a_and_b():
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    kwargs = dict(
        observation_space=observation_space, action_space=action_space, features_extractor=nn.Flatten(), features_dim=5
    )
    critic_a = make_critic("A", net_arch=[32, 32], **kwargs)
    assert type(critic_a) is ContinuousCritic and len(critic_a.q_networks) == 2
    critic_b = make_critic("B", net_arch=[16, 16, 16], **kwargs)
    assert isinstance(critic_b, HighwayCritic) and len(critic_b.q_networks) == 2
    # a first layer, then highway layers (gated), each with layer norm and ELU
    highway = critic_b.q_networks[0]
    assert [type(layer).__name__ for layer in highway] == [
        "Linear",
        "LayerNorm",
        "ELU",
        "HighwayLayer",
        "HighwayLayer",
        "Linear",
    ]
    q_values = critic_b(th.randn(BATCH, 5), th.rand(BATCH, ACTION_DIM))
    assert len(q_values) == 2 and q_values[0].shape == (BATCH, 1)
    with pytest.raises(ValueError, match="equal widths"):
        make_critic("B", net_arch=[16, 8], **kwargs)
    with pytest.raises(ValueError, match="critic_arch must be one of"):
        make_critic("C", net_arch=[16], **kwargs)


def test_crossq_critic_on_running_statistics_takes_the_fast_path():
    """CrossQ's batch-renormalized critic in evaluation mode: each renormalization is folded into the Linear layer
    after it, and the hand-written gradient is autograd's through the modules; after its statistics move (a training
    pass) a binding stacks the new ones; in training mode (batch statistics) J takes autograd's path."""
    observation_space = spaces.Box(-1, 1, (5,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
    critic = CrossQCritic(observation_space, action_space, [32, 16], nn.Flatten(), 5, n_critics=2)
    obs = th.randn(BATCH, 5)
    actions = th.rand(N_SAMPLES, BATCH, ACTION_DIM) * 2 - 1
    critic.set_bn_training_mode(True)
    for _ in range(3):  # running statistics away from (0, 1), scale and bias away from (1, 0)
        th.cat(critic(obs * 3 + 1, actions[0]), dim=1)
    for parameter in critic.parameters():
        parameter.data.add_(0.1 * th.randn_like(parameter))
    critic.set_bn_training_mode(False)
    stacks = CriticStacks()  # kept from one binding to the next while the statistics and modes are as they were
    for _ in range(2):
        bound = EnsembleQ(critic, obs, stacks=stacks)
        assert bound.hand_written_gradient
        q_values, grad = bound.action_gradient(actions, 2.5)
        reference_q, reference_grad = autograd_action_gradient(bound, actions, 2.5)
        th.testing.assert_close(q_values, reference_q, rtol=0, atol=1e-5)
        th.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)
        critic.set_bn_training_mode(True)
        th.cat(critic(obs, actions[0]), dim=1)  # the statistics move: the next binding stacks again
        critic.set_bn_training_mode(False)
    critic.set_bn_training_mode(True)
    assert not EnsembleQ(critic, obs).hand_written_gradient
    assert not EnsembleQ(critic, obs, stacks=stacks).hand_written_gradient  # a mode is part of what a stack is checked on
