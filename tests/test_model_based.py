"""The model-based value estimate (sb3_iterative/model_based): closed forms, gradients, the model and distillation,
and its options (IterativeSAC's alone: the other bases refuse value_estimator='model')."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from gymnasium.spaces import Box, Dict
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.sac.policies import Actor
from torch import nn

from sb3_iterative import IterativeSAC, IterativeSACPolicy
from sb3_iterative.common.iterative_actor import actor_loss
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.model_based import DynamicsModel, ModelBasedValue, ModelValueEstimator, distillation_kl
from sb3_iterative.objective import objective, objective_gradient, squashed_gaussian_log_prob
from sb3_iterative.pessimism import pessimistic_value

from helpers import SMALL

OBS_DIM, ACTION_DIM, BATCH, N_SAMPLES = 3, 2, 5, 4
OBSERVATION_SPACE = spaces.Box(-5, 5, (OBS_DIM,), dtype=np.float32)
ACTION_SPACE = spaces.Box(-1, 1, (ACTION_DIM,), dtype=np.float32)
ALPHA, BETA = 0.3, 2.5


class LinearModel(nn.Module):
    """A hand-made model: s' = A s + B a, r = c·s − ‖a‖² (the estimator calls it as it calls DynamicsModel)."""

    def __init__(self):
        super().__init__()
        generator = th.Generator().manual_seed(1)
        self.A = nn.Parameter(0.9 * th.eye(OBS_DIM) + 0.05 * th.randn(OBS_DIM, OBS_DIM, generator=generator))
        self.B = nn.Parameter(0.5 * th.randn(OBS_DIM, ACTION_DIM, generator=generator))
        self.c = nn.Parameter(th.randn(OBS_DIM, generator=generator))

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return obs @ self.A.T + actions @ self.B.T, obs @ self.c - actions.pow(2).sum(-1)


def linear_critic(n_critics: int = 2) -> ContinuousCritic:
    """Two linear critics (net_arch=[]), with different weights so that their std is not zero."""
    critic = ContinuousCritic(
        OBSERVATION_SPACE, ACTION_SPACE, [], FlattenExtractor(OBSERVATION_SPACE), OBS_DIM, n_critics=n_critics
    )
    th.manual_seed(2)
    for q_net in critic.q_networks:
        nn.init.normal_(q_net[0].weight)
        nn.init.normal_(q_net[0].bias)
    return critic


def linear_policy() -> Actor:
    """A direct policy with linear heads: µ(s) = W s + b, log σ(s) = V s + c."""
    actor = Actor(OBSERVATION_SPACE, ACTION_SPACE, [], FlattenExtractor(OBSERVATION_SPACE), OBS_DIM)
    th.manual_seed(3)
    for head in (actor.mu, actor.log_std):
        nn.init.normal_(head.weight, std=0.3)
        nn.init.normal_(head.bias, std=0.3)
    return actor


def estimator(horizon: int, retrace_lambda: float, gamma: float) -> ModelValueEstimator:
    model_based = ModelValueEstimator(OBS_DIM, ACTION_DIM, horizon, retrace_lambda)
    model_based.dynamics = LinearModel()
    model_based.gamma.fill_(gamma)
    return model_based


def inputs() -> tuple[th.Tensor, th.Tensor]:
    generator = th.Generator().manual_seed(4)
    obs = th.randn(BATCH, OBS_DIM, generator=generator)
    actions = th.tanh(th.randn(N_SAMPLES, BATCH, ACTION_DIM, generator=generator))
    return obs, actions


def by_hand(obs, actions, model, critic, policy, horizon, retrace_lambda, gamma, seed):
    """Q_0 + Σ_{i<h} (γλ)^i δ_i, δ_i = r̂_i + γ(Q_{i+1} − k_{i+1}) − Q_i, step by step (differentiable in actions)."""
    noise = th.randn((horizon, N_SAMPLES, BATCH, ACTION_DIM), generator=th.Generator().manual_seed(seed))
    states, chosen = [obs.expand(N_SAMPLES, -1, -1)], [actions]
    rewards, ks = [], [None]
    for step in range(horizon):
        next_state, reward = model(states[-1], chosen[-1])
        mu, log_std, _ = policy.get_action_dist_params(next_state.reshape(-1, OBS_DIM))
        mu, std = mu.view(N_SAMPLES, BATCH, -1), log_std.exp().view(N_SAMPLES, BATCH, -1)
        gaussian = mu + noise[step] * std
        action = th.tanh(gaussian)
        states.append(next_state)
        chosen.append(action)
        rewards.append(reward)
        ks.append(ALPHA * squashed_gaussian_log_prob(mu, std, gaussian, action))

    def q_hat(state, action):
        flat = th.cat([state.reshape(-1, OBS_DIM), action.reshape(-1, ACTION_DIM)], dim=1)
        values = th.cat([q_net(flat) for q_net in critic.q_networks], dim=1).view(N_SAMPLES, BATCH, -1)
        return pessimistic_value(values, BETA)

    qs = [q_hat(state, action) for state, action in zip(states, chosen, strict=True)]
    total = qs[0]
    for i in range(horizon):
        delta = rewards[i] + gamma * (qs[i + 1] - ks[i + 1]) - qs[i]
        total = total + (gamma * retrace_lambda) ** i * delta
    return total, rewards, ks, qs


def model_based_value(horizon, retrace_lambda, gamma, seed=7, obs=None):
    obs = inputs()[0] if obs is None else obs
    model_based = estimator(horizon, retrace_lambda, gamma)
    critic, policy = linear_critic(), linear_policy()
    bound = ModelBasedValue(model_based, obs, critic, policy, ALPHA, generator=th.Generator().manual_seed(seed))
    return bound, model_based, critic, policy


def test_horizon_zero_is_the_critics_estimate():
    obs, actions = inputs()
    bound, _, critic, _ = model_based_value(horizon=0, retrace_lambda=0.9, gamma=0.99)
    th.testing.assert_close(bound.value(actions, BETA), EnsembleQ(critic, obs).value(actions, BETA))


class WorstCritic:
    """A pessimism other than the paper's: the lowest of the critics' values (β unused)."""

    def value(self, q_values, beta):
        return q_values.min(dim=-1).values


def test_the_rollout_values_its_states_with_the_pessimism_it_is_given():
    obs, actions = inputs()
    _, model_based, critic, policy = model_based_value(horizon=0, retrace_lambda=0.9, gamma=0.99)
    bound = ModelBasedValue(model_based, obs, critic, policy, ALPHA, pessimism=WorstCritic())
    worst = EnsembleQ(critic, obs)(actions).min(dim=-1).values
    th.testing.assert_close(bound.value(actions, BETA), worst)
    assert not th.allclose(worst, EnsembleQ(critic, obs).value(actions, BETA))


def test_gamma_zero_is_the_first_predicted_reward():
    obs, actions = inputs()
    bound, model_based, _, _ = model_based_value(horizon=2, retrace_lambda=0.9, gamma=0.0)
    _, reward = model_based.dynamics(obs.expand(N_SAMPLES, -1, -1), actions)
    th.testing.assert_close(bound.value(actions, BETA), reward)


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_lambda_one_is_the_discounted_soft_return(horizon):
    obs, actions = inputs()
    gamma = 0.9
    bound, model_based, critic, policy = model_based_value(horizon, retrace_lambda=1.0, gamma=gamma)
    _, rewards, ks, qs = by_hand(obs, actions, model_based.dynamics, critic, policy, horizon, 1.0, gamma, seed=7)
    # r̂_0 + Σ_{i=1}^{h−1} γ^i (r̂_i − k_i) + γ^h (Q_h − k_h)
    expected = rewards[0] + sum(gamma**i * (rewards[i] - ks[i]) for i in range(1, horizon))
    expected = expected + gamma**horizon * (qs[horizon] - ks[horizon])
    th.testing.assert_close(bound.value(actions, BETA), expected)


@pytest.mark.parametrize("horizon", [1, 2, 3])
def test_retrace_value_by_hand(horizon):
    obs, actions = inputs()
    bound, model_based, critic, policy = model_based_value(horizon, retrace_lambda=0.9, gamma=0.99)
    expected, *_ = by_hand(obs, actions, model_based.dynamics, critic, policy, horizon, 0.9, 0.99, seed=7)
    th.testing.assert_close(bound.value(actions, BETA), expected)
    # and it is not the critic's estimate: the model's rewards and states enter
    assert not th.allclose(expected, EnsembleQ(critic, obs).value(actions, BETA))


def test_action_gradient_plans_through_the_model_and_matches_autograd():
    obs, actions = inputs()
    bound, model_based, critic, policy = model_based_value(horizon=2, retrace_lambda=0.9, gamma=0.99)
    value, grad = bound.value_and_action_gradient(actions, BETA)

    reference_actions = actions.clone().requires_grad_(True)
    expected, *_ = by_hand(obs, reference_actions, model_based.dynamics, critic, policy, 2, 0.9, 0.99, seed=7)
    (reference_grad,) = th.autograd.grad(expected.sum(), reference_actions)
    th.testing.assert_close(value, expected.detach())
    th.testing.assert_close(grad, reference_grad)
    _, critic_grad = EnsembleQ(critic, obs).value_and_action_gradient(actions, BETA)
    assert (grad - critic_grad).abs().max() > 1e-2


def test_no_gradient_reaches_the_parameters_behind_the_estimate():
    """Backpropagating Q̂_MB (as the direct actor's loss does) reaches the actions only."""
    _, actions = inputs()
    bound, model_based, critic, policy = model_based_value(horizon=2, retrace_lambda=0.9, gamma=0.99)
    actions = actions.clone().requires_grad_(True)
    bound.value(actions, BETA).sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0
    for module in (critic, model_based, policy):
        assert all(param.grad is None for param in module.parameters())
        assert all(param.requires_grad for param in module.parameters())  # restored after the estimate


def policy_kwargs(actor: str) -> dict:
    return dict(net_arch=[16, 16], actor=actor, value_estimator="model", rollout_horizon=2)


def make_policy(actor: str) -> IterativeSACPolicy:
    th.manual_seed(0)
    policy = IterativeSACPolicy(OBSERVATION_SPACE, ACTION_SPACE, lambda _: 1e-3, **policy_kwargs(actor))
    for module in (policy.estimator.dynamics.state_net[-1], policy.estimator.dynamics.reward_net[-1]):
        nn.init.normal_(module.weight, std=0.1)  # a model that predicts something
    return policy


def test_policy_builds_the_model_based_estimate_online_or_target():
    policy = make_policy("iterative")
    with th.no_grad():
        for param in policy.critic_target.parameters():
            param.add_(0.5)  # target critics that differ from the online ones
    obs, actions = inputs()
    online, target = (
        policy.value_estimate(obs, ALPHA, target=flag, generator=th.Generator().manual_seed(0)) for flag in (False, True)
    )
    assert online.critic is policy.critic and target.critic is policy.critic_target
    assert online.rollout_policy is policy.distilled_policy and online.estimator is policy.estimator
    assert not th.allclose(online.value(actions, BETA), target.value(actions, BETA))
    assert isinstance(policy.value_estimate(obs, ALPHA, critic_only=True), EnsembleQ)


def test_direct_actor_is_trained_through_its_first_action_only():
    """With a direct actor, the actor is also the rollout policy: J reaches φ through a_0 = f_φ(s) only."""
    policy = make_policy("direct")
    assert policy.distilled_policy is None and policy.direct_policy is policy.actor
    obs = th.randn(BATCH, OBS_DIM)
    noise = policy.sample_noise(BATCH)

    def actor_gradients(rollout_policy) -> list[th.Tensor]:
        policy.actor.zero_grad()
        value_estimate = ModelBasedValue(
            policy.estimator, obs, policy.critic, rollout_policy, ALPHA, th.Generator().manual_seed(5)
        )
        trace = policy.optimize(obs, value_estimate, ALPHA, 1.0, noise)
        actor_loss(trace, value_estimate, noise[-1], ALPHA, 1.0)[0].backward()
        return [param.grad.clone() for param in policy.actor.parameters()]

    frozen_copy = Actor(OBSERVATION_SPACE, ACTION_SPACE, [16, 16], FlattenExtractor(OBSERVATION_SPACE), OBS_DIM)
    frozen_copy.load_state_dict(policy.actor.state_dict())
    for param in frozen_copy.parameters():
        param.requires_grad_(False)
    for ours, reference in zip(actor_gradients(policy.actor), actor_gradients(frozen_copy), strict=True):
        th.testing.assert_close(ours, reference)
    for module in (policy.critic, policy.estimator):
        assert all(param.grad is None for param in module.parameters())


def test_model_fits_a_linear_system_with_a_known_reward():
    th.manual_seed(0)
    true_a = th.tensor([[0.9, 0.2, 0.0], [-0.1, 0.8, 0.1], [0.0, 0.3, 0.7]])
    true_b = th.tensor([[0.5, 0.0], [0.0, -0.4], [0.2, 0.3]])

    def transitions(n: int):
        obs, actions = th.randn(n, OBS_DIM), th.rand(n, ACTION_DIM) * 2 - 1
        next_obs = obs @ true_a.T + actions @ true_b.T + 0.01 * th.randn(n, OBS_DIM)
        rewards = -(obs**2).sum(-1) - 0.1 * (actions**2).sum(-1) + 0.01 * th.randn(n)
        return obs, actions, next_obs, rewards

    model = DynamicsModel(OBS_DIM, ACTION_DIM, net_arch=(64, 64))
    optimizer = th.optim.Adam(model.parameters(), lr=3e-3)
    first_losses = None
    for _ in range(1500):
        state_loss, reward_loss = model.loss(*transitions(256))
        first_losses = first_losses or (state_loss.item(), reward_loss.item())
        optimizer.zero_grad()
        (state_loss + reward_loss).backward()
        optimizer.step()

    obs, actions, next_obs, rewards = transitions(1000)
    with th.no_grad():
        predicted_obs, predicted_rewards = model(obs, actions)
    assert (predicted_obs - next_obs).pow(2).mean().sqrt() < 0.1
    assert (predicted_rewards - rewards).pow(2).mean().sqrt() < 0.25  # rewards have std ≈ 2.6
    # the learned std follows the fit: far below its initial 1
    assert model.state_log_std.exp().max() < 0.2
    state_loss, _ = model.loss(obs, actions, next_obs, rewards)
    assert state_loss.item() < first_losses[0] - 3


def test_untrained_model_predicts_no_change_and_zero_reward():
    model = DynamicsModel(OBS_DIM, ACTION_DIM)
    obs, actions = th.randn(BATCH, OBS_DIM), th.rand(BATCH, ACTION_DIM)
    next_obs, reward = model(obs, actions)
    th.testing.assert_close(next_obs, obs)
    th.testing.assert_close(reward, th.zeros(BATCH))


def test_distillation_kl_is_the_gaussian_kl():
    mu_p, log_std_p, mu_q, log_std_q = (th.randn(BATCH, ACTION_DIM) for _ in range(4))
    reference = th.distributions.kl_divergence(
        th.distributions.Normal(mu_p, log_std_p.exp()), th.distributions.Normal(mu_q, log_std_q.exp())
    ).sum(-1)
    th.testing.assert_close(distillation_kl(mu_p, log_std_p, mu_q, log_std_q), reference)
    th.testing.assert_close(distillation_kl(mu_p, log_std_p, mu_p, log_std_p), th.zeros(BATCH))


def test_distillation_drives_the_kl_down_on_a_fixed_iterative_actor():
    policy = make_policy("iterative")
    th.manual_seed(1)
    for param in policy.actor.update_and_gate.parameters():
        nn.init.normal_(param, std=0.5)  # an optimizer whose λ_K depends on the state
    rollout_policy = policy.distilled_policy
    optimizer = th.optim.Adam(rollout_policy.parameters(), lr=3e-3)

    def kl(obs: th.Tensor) -> th.Tensor:
        with th.no_grad():
            trace = policy.optimize(obs, policy.value_estimate(obs, ALPHA), ALPHA, BETA, policy.sample_noise(len(obs)))
        mu, log_std, _ = rollout_policy.get_action_dist_params(obs)
        return distillation_kl(trace.mu, trace.log_std, mu, log_std).mean()

    test_obs = th.randn(256, OBS_DIM)
    before = kl(test_obs).item()
    actor_state = {key: value.clone() for key, value in policy.actor.state_dict().items()}
    for _ in range(300):
        loss = kl(th.randn(128, OBS_DIM))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = kl(test_obs).item()
    assert after < 0.2 * before, (before, after)
    for key, value in policy.actor.state_dict().items():
        assert th.equal(value, actor_state[key]), key


def test_non_finite_model_predictions_raise():
    policy = make_policy("iterative")
    with th.no_grad():
        policy.estimator.dynamics.reward_net[-1].bias.fill_(math.inf)
    with pytest.raises(RuntimeError, match="model predicted non-finite"):
        policy.predict(OBSERVATION_SPACE.sample())


def test_objective_with_the_model_based_estimate_differs_from_the_critics():
    policy = make_policy("iterative")
    obs = th.randn(BATCH, OBS_DIM)
    mu, log_std, noise = th.zeros(BATCH, ACTION_DIM), th.full((BATCH, ACTION_DIM), -1.0), th.randn(1, BATCH, ACTION_DIM)
    model_based = objective_gradient(
        policy.value_estimate(obs, ALPHA, generator=th.Generator().manual_seed(0)), mu, log_std, noise, ALPHA, BETA
    )
    critic_only = objective_gradient(policy.value_estimate(obs, ALPHA, critic_only=True), mu, log_std, noise, ALPHA, BETA)
    assert not th.allclose(model_based.value, critic_only.value)
    assert not th.allclose(model_based.grad_mu, critic_only.grad_mu)
    # the same estimate through objective() and objective_gradient() (same rollout samples)
    plain = objective(
        policy.value_estimate(obs, ALPHA, generator=th.Generator().manual_seed(0)), mu, log_std, noise, ALPHA, BETA
    )
    th.testing.assert_close(plain.value, model_based.value)


def model_based_sac(policy_kwargs=None, **kwargs) -> IterativeSAC:
    policy_kwargs = dict(net_arch=[32, 32], **(policy_kwargs or {}))
    return IterativeSAC("MlpPolicy", "Pendulum-v1", **{**SMALL, **kwargs}, policy_kwargs=policy_kwargs)


@pytest.mark.parametrize(
    "policy_kwargs, match",
    [
        (dict(value_estimator="model", rollout_horizon=-1), "rollout_horizon"),
        (dict(value_estimator="model", rollout_horizon=1.5), "rollout_horizon"),
        (dict(value_estimator="model", retrace_lambda=1.1), "retrace_lambda"),
        (dict(value_estimator="model", retrace_lambda=-0.1), "retrace_lambda"),
    ],
)
def test_bad_model_based_policy_kwargs(policy_kwargs, match):
    with pytest.raises(ValueError, match=match):
        model_based_sac(policy_kwargs=policy_kwargs)


@pytest.mark.parametrize("model_pretrain_steps", [-1, 2.5, True])
def test_model_pretrain_steps(model_pretrain_steps):
    with pytest.raises(ValueError, match="model_pretrain_steps"):
        model_based_sac(model_pretrain_steps=model_pretrain_steps, policy_kwargs=dict(value_estimator="model"))


@pytest.mark.parametrize("kwargs", [dict(model_pretrain_steps=10), dict(model_based_target=False)])
def test_model_based_options_need_the_model_based_estimate(kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} applies to value_estimator='model' only"):
        model_based_sac(**kwargs)


def test_model_based_target_is_a_bool():
    with pytest.raises(ValueError, match="model_based_target"):
        model_based_sac(model_based_target="yes", policy_kwargs=dict(value_estimator="model"))


@pytest.mark.parametrize(
    "observation_space",
    [Box(0, 255, (36, 36, 1), dtype=np.uint8), Dict({"position": Box(-1, 1, (2,)), "goal": Box(-1, 1, (2,))})],
)
def test_model_based_needs_flat_observations(observation_space):
    with pytest.raises(ValueError, match="value_estimator='model' needs flat vector observations"):
        IterativeSACPolicy(observation_space, Box(-1, 1, (1,)), lambda _: 1e-3, value_estimator="model")
