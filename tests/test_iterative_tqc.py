"""IterativeTQC (sb3_iterative/iterative_tqc/): the iterative actor on sb3-contrib TQC's quantile critics.

What only IterativeTQC has (what every algorithm shares is tested in test_algorithms.py): TQC equivalence in direct mode,
the truncated-quantile value inside J (its fast gradient against autograd, the optimizer on a quantile
critic with a known optimum), and the analyses (learning the contextual bandit: tests/test_learning.py)."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from sb3_contrib import TQC
from sb3_contrib.tqc.policies import Critic as QuantileCritic
from stable_baselines3.common.torch_layers import FlattenExtractor

from sb3_iterative import IterativeTQC, analysis
from sb3_iterative.common.iterative_actor import actor_loss
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.objective import EnsembleValue, autograd_action_gradient, objective
from sb3_iterative.pessimism import TruncatedQuantiles

from bandit import ContextualBandit

ENV = "Pendulum-v1"
SMALL = dict(learning_starts=50, batch_size=32, seed=0, device="cpu", policy_kwargs=dict(net_arch=[32, 32], n_quantiles=5))


def quantile_critic(n_critics=2, n_quantiles=5, obs_dim=4, action_dim=3, net_arch=(32, 16)):
    observation_space = spaces.Box(-1, 1, (obs_dim,), dtype=np.float32)
    action_space = spaces.Box(-1, 1, (action_dim,), dtype=np.float32)
    return QuantileCritic(
        observation_space,
        action_space,
        list(net_arch),
        FlattenExtractor(observation_space),
        obs_dim,
        n_quantiles=n_quantiles,
        n_critics=n_critics,
    )


# --- the value inside J -------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0, 1, 3])
def test_truncated_quantiles_value_and_weights(beta):
    """Q̂_β is the mean of the n·(M − β) smallest pooled quantiles; its weights are 1/kept on exactly those."""
    th.manual_seed(0)
    pessimism = TruncatedQuantiles(n_critics=3, n_quantiles=5)
    q_values = th.randn(4, 6, 15, dtype=th.float64)
    kept = 3 * (5 - beta)
    expected = th.sort(q_values, dim=-1).values[..., :kept].mean(dim=-1)
    th.testing.assert_close(pessimism.value(q_values, beta), expected)
    value, weights = pessimism.value_and_weights(q_values, beta)
    assert th.equal(value, pessimism.value(q_values, beta))
    assert th.equal((weights > 0).sum(dim=-1), th.full((4, 6), kept))
    th.testing.assert_close(weights.sum(dim=-1), th.ones(4, 6, dtype=th.float64))
    # the weights are the gradient of the value
    q_values.requires_grad_(True)
    (grad,) = th.autograd.grad(pessimism.value(q_values, beta).sum(), q_values)
    th.testing.assert_close(weights, grad)


def test_truncated_quantiles_with_beta_zero_is_tqc_actor_objective():
    """β = 0 is TQC's actor objective, computed as TQC computes it: bit for bit."""
    q_values = th.randn(1, 8, 2 * 25)
    tqc = q_values.reshape(8, 2, 25).mean(dim=2).mean(dim=1)
    assert th.equal(TruncatedQuantiles(2, 25).value(q_values, 0)[0], tqc)


@pytest.mark.parametrize("beta", [0, 2])
def test_quantile_critic_fast_action_gradient_equals_autograd(beta):
    """EnsembleQ's batched backward through TQC's quantile MLPs (several outputs per member)."""
    th.manual_seed(0)
    critic = quantile_critic()
    obs, actions = th.randn(8, 4), th.rand(3, 8, 3) * 2 - 1
    bound = EnsembleQ(critic, obs, TruncatedQuantiles(2, 5))
    assert bound._members is not None  # the fast path is the one under test
    q_values, grad = bound.action_gradient(actions, beta)
    assert q_values.shape == (3, 8, 10)
    expected = critic(obs, actions[1]).reshape(8, 10)  # TQC's [B, n_critics, n_quantiles], member-major
    th.testing.assert_close(q_values[1], expected, rtol=0, atol=1e-6)
    reference_q, reference_grad = autograd_action_gradient(bound, actions, beta, bound.pessimism)
    th.testing.assert_close(q_values, reference_q, rtol=0, atol=1e-6)
    th.testing.assert_close(grad, reference_grad, rtol=0, atol=1e-5)
    assert grad.abs().sum() > 0


def test_iterative_optimizer_raises_j_on_a_quantile_critic_with_a_known_optimum():
    """Two fixed critics of 5 quantiles, each a bowl peaking at a* = (0.5, −0.3), so that every
    truncated mean peaks there too: training IterativeTQC's optimizer on J(β = 2) raises J at λ_K and
    brings tanh(µ_K) to a*."""
    th.manual_seed(0)
    model = IterativeTQC("MlpPolicy", ContextualBandit(), device="cpu", seed=0, policy_kwargs=dict(n_quantiles=5))
    target = th.tensor([0.5, -0.3])
    spread = th.arange(5.0)

    def quantiles(actions: th.Tensor) -> th.Tensor:  # [N, B, A] -> [N, B, 2 · 5]
        bowl = -((actions - target) ** 2).sum(dim=-1, keepdim=True)
        return th.cat([(1 + 0.1 * spread) * bowl + spread] * 2, dim=-1)

    estimate = EnsembleValue(quantiles, model.policy.pessimism)
    obs = th.rand(64, 2) * 2 - 1
    beta, ent_coef = 2.0, 0.01

    def optimized() -> tuple[th.Tensor, th.Tensor]:
        noise = model.policy.sample_noise(64)
        with th.no_grad():
            trace = model.policy.optimize(obs, estimate, ent_coef, beta, noise, with_values=False)
        return trace.mu, objective(estimate, trace.mu, trace.log_std, noise[-1], ent_coef, beta).value.mean()

    _, before = optimized()
    for _ in range(300):
        noise = model.policy.sample_noise(64)
        trace = model.policy.optimize(obs, estimate, ent_coef, beta, noise)
        loss, _ = actor_loss(trace, estimate, noise[-1], ent_coef, beta)
        model.actor.optimizer.zero_grad()
        loss.backward()
        model.actor.optimizer.step()
    mu, after = optimized()
    assert after > before + 0.05, (before, after)
    assert (th.tanh(mu) - target).abs().max() < 0.1


# --- the algorithm ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options", [dict(), dict(ent_coef=0.05, n_steps=3, gradient_steps=2, top_quantiles_to_drop_per_net=1)]
)
def test_direct_actor_reproduces_tqc(options):
    """actor="direct", β = 0: IterativeTQC is sb3-contrib's TQC, parameter for parameter."""
    common = dict(seed=3, learning_starts=100, batch_size=64, device="cpu", **options)
    tqc = TQC("MlpPolicy", ENV, **common).learn(400)
    ours = IterativeTQC("MlpPolicy", ENV, beta=0, policy_kwargs=dict(actor="direct"), **common).learn(400)

    assert ours._n_updates == tqc._n_updates > 0
    tqc_state, our_state = tqc.policy.state_dict(), ours.policy.state_dict()
    assert tqc_state.keys() == our_state.keys()
    for key in tqc_state:
        assert th.equal(tqc_state[key], our_state[key]), key
    if tqc.log_ent_coef is not None:
        assert th.equal(tqc.log_ent_coef, ours.log_ent_coef)
    assert (tqc.replay_buffer.actions == ours.replay_buffer.actions).all()


def test_truncation_in_j_breaks_the_tqc_equality():
    """The same comparison fails once J drops quantiles (β = 2): the test can tell the two apart."""
    common = dict(seed=3, learning_starts=100, batch_size=64, device="cpu")
    tqc = TQC("MlpPolicy", ENV, **common).learn(200)
    ours = IterativeTQC("MlpPolicy", ENV, beta=2, policy_kwargs=dict(actor="direct"), **common).learn(200)
    assert not th.equal(tqc.policy.state_dict()["actor.mu.weight"], ours.policy.state_dict()["actor.mu.weight"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(top_quantiles_to_drop_per_net=5),
            r"top_quantiles_to_drop_per_net is the number of top quantiles .* \[0, 5\), got 5",
        ),
        (dict(top_quantiles_to_drop_per_net=-1), r"top_quantiles_to_drop_per_net .* got -1"),
        (
            dict(beta=2.5),
            r"beta is the number of top quantiles dropped per critic: an integer in \[0, n_quantiles\) = \[0, 5\), got 2.5",
        ),
        (dict(policy_kwargs=dict(n_quantiles=0)), r"n_quantiles must be an integer >= 1, got 0"),
        (dict(policy_kwargs=dict(n_quantiles=5, beta_collect=5)), r"beta_collect is the number .* \[0, 5\), got 5"),
        (dict(policy_kwargs=dict(critic_arch="B")), r"critic_arch must be 'A' for IterativeTQCPolicy"),
        (dict(policy_kwargs=dict(value_estimator="model")), r"value_estimator must be 'critic' for IterativeTQCPolicy"),
        (
            dict(policy_kwargs=dict(n_quantile=5)),
            r"IterativeTQCPolicy.__init__\(\) got an unexpected keyword argument 'n_quantile'",
        ),
    ],
)
def test_what_only_tqc_refuses(kwargs, message):
    """What every algorithm refuses alike is tested in test_bad_input.py."""
    options = {**dict(policy_kwargs=dict(n_quantiles=5)), **kwargs}
    with pytest.raises((ValueError, TypeError), match=message):
        IterativeTQC("MlpPolicy", ENV, device="cpu", **options)


def test_analyses_run_on_the_quantile_critics_j():
    """The paper's analyses take an IterativeTQC agent: J at the acting β (0 quantiles dropped) and the
    training β (top_quantiles_to_drop_per_net), its value from the quantile critics."""
    model = IterativeTQC("MlpPolicy", ENV, **SMALL).learn(100)
    agent = analysis.as_agent(model)
    assert agent.reads_objective and agent.beta == 0.0 and agent.training_beta == 2.0
    states = analysis.collect_states(model, ENV, n=8, seed=0)
    gap = analysis.amortization_gap(model, states).summary()
    assert gap["n_states"] == 8 and gap["mean_optimized_objective"] >= gap["mean_amortized_objective"] - 1e-6
    comparison = analysis.compare_optimizers(model, states, adam_steps=5, cem_steps=5).summary()
    assert comparison["iterative_iterations"] == 5
    # β is checked as the algorithm checks it: an integer count of dropped quantiles in [0, n_quantiles)
    for beta in (2.5, -1, 5):
        with pytest.raises(ValueError, match="beta is the number of top quantiles dropped per critic"):
            analysis.amortization_gap(model, states, beta=beta)
    assert analysis.amortization_gap(model, states, beta=4).beta == 4.0


def test_critic_target_bootstraps_the_truncated_atoms_of_the_iterative_next_actions(monkeypatch):
    """The critics' target y = r + γ (1 − done)·(z − α log π'), z the target critics' pooled quantiles at a' ~ π(·|s';
    λ') without the d largest of each critic, λ' from K iterations on the online critics' J, a' from the noise
    plan's last slice: TQC's target, written here from its parts."""
    model = IterativeTQC("MlpPolicy", ENV, top_quantiles_to_drop_per_net=1, **SMALL).learn(60)
    with th.no_grad():
        for parameter in model.critic_target.parameters():
            parameter.add_(0.3)  # target critics that differ from the online ones
    batch = model.replay_buffer.sample(16)
    ent_coef, noise = model._current_ent_coef(), model.policy.sample_noise(16)
    targets = []
    monkeypatch.setattr(model, "_critic_regression", lambda current, target: targets.append(target) or th.zeros(()))
    model._critic_loss(batch, model.gamma, ent_coef, noise)

    next_obs = batch.next_observations
    with th.no_grad():
        estimate = model.policy.value_estimate(next_obs, ent_coef)
        trace = model.policy.optimize(next_obs, estimate, ent_coef, model.beta, noise)
        std = trace.log_std.exp()
        gaussian_actions = trace.mu + noise[-1, 0] * std
        actions = th.tanh(gaussian_actions)
        log_prob = th.distributions.Normal(trace.mu, std).log_prob(gaussian_actions).sum(dim=-1)
        log_prob = log_prob - th.log(1 - actions**2 + 1e-6).sum(dim=-1)
        quantiles = model.critic_target(next_obs, actions)  # [B, n critics, M]
        kept = model.critic.n_critics * (5 - 1)
        pooled = th.sort(quantiles.reshape(len(actions), -1), dim=1).values[:, :kept]
        expected = batch.rewards + (1 - batch.dones) * model.gamma * (pooled - ent_coef * log_prob[:, None])
    (target,) = targets
    th.testing.assert_close(target, expected, rtol=1e-5, atol=1e-5)
    assert not th.allclose(target, batch.rewards + (1 - batch.dones) * model.gamma * pooled)  # the entropy term counts
