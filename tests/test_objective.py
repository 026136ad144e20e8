"""The objective J(s, λ) (sb3_iterative/objective.py) and the pessimistic estimate Q̂_β (sb3_iterative/pessimism.py)."""

import itertools

import numpy as np
import pytest
import torch as th
from torch import nn

from sb3_iterative.objective import (
    TANH_EPSILON,
    EnsembleValue,
    noise_plan,
    objective,
    objective_gradient,
    squashed_gaussian_log_prob,
)
from sb3_iterative.pessimism import pessimistic_value, pessimistic_value_and_weights

BATCH, ACTION_DIM, N_SAMPLES = 8, 3, 4


@pytest.fixture(autouse=True)
def seed():
    th.manual_seed(0)


zero_q = EnsembleValue(lambda actions: th.zeros(*actions.shape[:-1], 1))


def reference_log_prob(mu, std, gaussian_actions):
    """log π of a = tanh(u) with torch.distributions and the change of variables."""
    log_prob = th.distributions.Normal(mu, std).log_prob(gaussian_actions).sum(-1)
    return log_prob - th.log(1 - th.tanh(gaussian_actions) ** 2 + TANH_EPSILON).sum(-1)


class SmallCritic(nn.Module):
    """Three critics of [state, action] -> Q, bound to a batch of states by ``q_function``."""

    def __init__(self, obs_dim: int = 2, n_critics: int = 3):
        super().__init__()
        self.q_networks = nn.ModuleList(
            nn.Sequential(nn.Linear(obs_dim + ACTION_DIM, 16), nn.Tanh(), nn.Linear(16, 1)) for _ in range(n_critics)
        )

    def q_function(self, obs: th.Tensor):
        def q(actions: th.Tensor) -> th.Tensor:
            inputs = th.cat([obs.expand(actions.shape[0], -1, -1), actions], dim=-1)
            return th.cat([q_net(inputs) for q_net in self.q_networks], dim=-1)

        return EnsembleValue(q)


def test_pessimistic_value_two_critics_beta_one_is_min():
    q_values = th.randn(N_SAMPLES, BATCH, 2)
    assert th.equal(pessimistic_value(q_values, beta=1.0), q_values.min(dim=-1).values)


@pytest.mark.parametrize("n_critics", [3, 5])
def test_pessimistic_value_is_mean_minus_beta_population_std(n_critics):
    q_values = th.randn(N_SAMPLES, BATCH, n_critics, dtype=th.float64)
    population = q_values.numpy()
    expected = population.mean(axis=-1) - 2.5 * np.std(population, axis=-1, ddof=0)
    np.testing.assert_allclose(pessimistic_value(q_values, beta=2.5).numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_critics", [1, 2, 3])
def test_pessimistic_value_beta_zero_is_mean(n_critics):
    q_values = th.randn(N_SAMPLES, BATCH, n_critics)
    th.testing.assert_close(pessimistic_value(q_values, beta=0.0), q_values.mean(dim=-1))


@pytest.mark.parametrize("n_critics, beta", [(2, 2.5), (3, 2.5), (5, 0.5)])
def test_pessimistic_value_gradient_finite_when_critics_agree(n_critics, beta):
    q_values = th.full((N_SAMPLES, BATCH, n_critics), 1.5, requires_grad=True)
    value = pessimistic_value(q_values, beta)
    th.testing.assert_close(value, th.full((N_SAMPLES, BATCH), 1.5))
    (grad,) = th.autograd.grad(value.sum(), q_values)
    assert th.isfinite(grad).all()


@pytest.mark.parametrize("n_critics, beta", [(2, 1.0), (2, 2.5), (3, 0.0), (5, 2.5)])
def test_pessimistic_value_and_weights_are_the_value_and_its_gradient(n_critics, beta):
    """The hand-written backward's aggregate: the value of pessimistic_value (the one the autograd paths
    differentiate), bit for bit, and weights equal to autograd's gradient of it (for the min: 1 on the
    smaller critic)."""
    q_values = th.randn(N_SAMPLES, BATCH, n_critics, requires_grad=True)
    value, weights = pessimistic_value_and_weights(q_values.detach(), beta)
    expected = pessimistic_value(q_values, beta)
    assert th.equal(value, expected.detach())
    (grad,) = th.autograd.grad(expected.sum(), q_values)
    th.testing.assert_close(weights, grad)


def test_pessimistic_value_and_weights_of_the_min_take_the_first_critic_on_ties():
    q_values = th.tensor([[1.0, 1.0], [2.0, 1.0]])
    _, weights = pessimistic_value_and_weights(q_values, 1.0)
    assert th.equal(weights, th.tensor([[1.0, 0.0], [0.0, 1.0]]))


@pytest.mark.parametrize("n_critics", [2, 3, 5])
def test_pessimistic_weights_are_the_mean_when_critics_agree(n_critics):
    """Below the variance floor the std is a constant, so the weights are the mean's, 1/n each, as
    autograd's gradient of the value is, even though the critics differ slightly."""
    q_values = (1.5 + 1e-8 * th.randn(N_SAMPLES, BATCH, n_critics, dtype=th.float64)).requires_grad_(True)
    _, weights = pessimistic_value_and_weights(q_values.detach(), 2.5)
    (grad,) = th.autograd.grad(pessimistic_value(q_values, 2.5).sum(), q_values)
    assert th.equal(weights, th.full_like(weights, 1.0 / n_critics))
    assert th.equal(weights, grad)


def test_squashed_gaussian_log_prob_matches_torch_distributions():
    mu = th.randn(BATCH, ACTION_DIM)
    std = th.rand(BATCH, ACTION_DIM) + 0.1
    gaussian_actions = mu + std * th.randn(N_SAMPLES, BATCH, ACTION_DIM)
    log_prob = squashed_gaussian_log_prob(mu, std, gaussian_actions, th.tanh(gaussian_actions))
    assert log_prob.shape == (N_SAMPLES, BATCH)
    th.testing.assert_close(log_prob, reference_log_prob(mu, std, gaussian_actions), rtol=1e-5, atol=1e-5)


def test_objective_without_q_is_minus_alpha_mean_log_prob():
    mu, log_std = th.randn(BATCH, ACTION_DIM), th.randn(BATCH, ACTION_DIM) * 0.3 - 1
    noise = th.randn(N_SAMPLES, BATCH, ACTION_DIM)
    estimate = objective(zero_q, mu, log_std, noise, ent_coef=0.2, beta=0.0)
    expected = -0.2 * reference_log_prob(mu, log_std.exp(), mu + noise * log_std.exp()).mean(dim=0)
    assert estimate.value.shape == (BATCH,)
    th.testing.assert_close(estimate.value, expected, rtol=1e-5, atol=1e-5)
    # J is proportional to α when Q contributes nothing
    doubled = objective(zero_q, mu, log_std, noise, ent_coef=0.4, beta=0.0)
    th.testing.assert_close(doubled.value, 2 * estimate.value)


def test_objective_without_entropy_is_mean_pessimistic_q():
    mu, log_std = th.randn(BATCH, ACTION_DIM), th.full((BATCH, ACTION_DIM), -1.0)
    noise = th.randn(N_SAMPLES, BATCH, ACTION_DIM)
    shifts = th.tensor([0.0, 1.0, -2.0])

    def q_function(actions):  # three critics: −||a||² plus a different constant each
        return -(actions**2).sum(-1, keepdim=True) + shifts

    estimate = objective(EnsembleValue(q_function), mu, log_std, noise, ent_coef=0.0, beta=2.5)
    actions = th.tanh(mu + noise * log_std.exp())
    th.testing.assert_close(estimate.actions, actions)
    expected = (-(actions**2).sum(-1) + shifts.mean() - 2.5 * shifts.std(unbiased=False)).mean(dim=0)
    th.testing.assert_close(estimate.value, expected)


def test_objective_entropy_rises_with_std():
    noise = th.randn(4096, 1, ACTION_DIM)
    mu = th.zeros(1, ACTION_DIM)
    values = [
        objective(zero_q, mu, th.full((1, ACTION_DIM), log_std), noise, ent_coef=0.5, beta=0.0).value.item()
        for log_std in np.linspace(-2.0, -0.5, 4)
    ]
    assert all(wider > narrower for narrower, wider in itertools.pairwise(values)), values


# float64 shows the closed-form chain rule is exact; float32 is what training runs in
@pytest.mark.parametrize(("dtype", "tolerance"), [(th.float64, 1e-10), (th.float32, 1e-5)])
def test_objective_gradient_equals_autograd(dtype, tolerance):
    obs = th.randn(BATCH, 2, dtype=dtype)
    q_function = SmallCritic().to(dtype).q_function(obs)
    mu = th.randn(BATCH, ACTION_DIM, dtype=dtype, requires_grad=True)
    log_std = (th.randn(BATCH, ACTION_DIM, dtype=dtype) * 0.3 - 1).requires_grad_(True)
    noise = th.randn(N_SAMPLES, BATCH, ACTION_DIM, dtype=dtype)
    value = objective(q_function, mu, log_std, noise, ent_coef=0.3, beta=2.5).value
    grad_mu, grad_log_std = th.autograd.grad(value.sum(), (mu, log_std))

    estimate = objective_gradient(q_function, mu, log_std, noise, ent_coef=0.3, beta=2.5)
    th.testing.assert_close(estimate.value, value.detach(), rtol=0, atol=tolerance)
    th.testing.assert_close(estimate.grad_mu, grad_mu, rtol=0, atol=tolerance)
    th.testing.assert_close(estimate.grad_log_std, grad_log_std, rtol=0, atol=tolerance)
    assert grad_mu.abs().sum() > 0 and grad_log_std.abs().sum() > 0

    with th.no_grad():
        under_no_grad = objective_gradient(q_function, mu, log_std, noise, ent_coef=0.3, beta=2.5)
    th.testing.assert_close(under_no_grad.grad_mu, grad_mu, rtol=0, atol=tolerance)
    th.testing.assert_close(under_no_grad.grad_log_std, grad_log_std, rtol=0, atol=tolerance)


def test_objective_gradient_leaves_critic_and_actor_parameters_alone():
    obs = th.randn(BATCH, 2)
    critic = SmallCritic()
    actor_head = nn.Linear(2, 2 * ACTION_DIM)
    mu, log_std = actor_head(obs).chunk(2, dim=-1)
    estimate = objective_gradient(critic.q_function(obs), mu, log_std, th.randn(1, BATCH, ACTION_DIM), 0.1, 2.5)
    assert estimate.grad_mu is not None and th.isfinite(estimate.grad_mu).all()
    assert not estimate.value.requires_grad and not estimate.grad_mu.requires_grad
    assert all(param.grad is None for param in critic.parameters())
    assert all(param.grad is None for param in actor_head.parameters())


def test_noise_plan_shape_draws_and_shared_noise():
    noise = noise_plan(6, 2, 5, 3, th.Generator().manual_seed(4))
    assert noise.shape == (6, 2, 5, 3)
    th.testing.assert_close(noise, th.randn(6, 2, 5, 3, generator=th.Generator().manual_seed(4)), rtol=0, atol=0)
    shared = noise_plan(6, 2, 5, 3, th.Generator().manual_seed(4), shared=True)
    assert shared.shape == (6, 2, 5, 3) and th.equal(shared, shared[:, :, :1].expand(-1, -1, 5, -1))
    th.testing.assert_close(shared[:, :, 0], th.randn(6, 2, 3, generator=th.Generator().manual_seed(4)), rtol=0, atol=0)
    state = th.random.get_rng_state()
    noise_plan(2, 1, 3, 2, th.Generator().manual_seed(0))
    assert th.equal(state, th.random.get_rng_state())  # a private generator leaves the global state alone
