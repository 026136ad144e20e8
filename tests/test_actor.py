"""The iterative actor (paper Algorithm 2, Eq. 11-12) and its training loss (policies.py)."""

import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN
from torch import nn

from sb3_iterative import IterativeSACPolicy
from sb3_iterative.common.iterative_actor import IterativeActor, actor_loss, soft_clamp
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.objective import EnsembleValue, ObjectiveEstimate, objective, objective_gradient

BATCH = 16
OBSERVATION_SPACE = spaces.Box(-1, 1, (2,), dtype=np.float32)


def make_policy(action_dim: int = 2, net_arch=(32, 32), **kwargs) -> IterativeSACPolicy:
    action_space = spaces.Box(-1, 1, (action_dim,), dtype=np.float32)
    return IterativeSACPolicy(OBSERVATION_SPACE, action_space, lambda _: 1e-3, net_arch=list(net_arch), **kwargs)


def randomize_heads(policy: IterativeSACPolicy, std: float = 0.1) -> None:
    """Move the zero-initialised update and gate heads, as training would."""
    nn.init.normal_(policy.actor.update_and_gate.weight, std=std)
    nn.init.normal_(policy.actor.update_and_gate.bias, std=std)


def random_obs(batch_size: int = BATCH) -> th.Tensor:
    return th.rand(batch_size, 2) * 2 - 1


def optimize_and_loss(policy, obs, q_function, ent_coef, beta, noise):
    """One actor loss, as IterativeSAC.train computes it."""
    trace = policy.optimize(obs, q_function, ent_coef, beta, noise)
    loss, final = actor_loss(trace, q_function, noise[-1], ent_coef, beta)
    value = -th.stack([estimate.value for estimate in [*trace.estimates, final][trace.first_trained :]]).mean()
    return trace, (loss, value)


def test_gates_and_shapes():
    th.manual_seed(0)
    policy = make_policy(action_dim=3)
    obs = random_obs()
    trace = policy.optimize(obs, EnsembleQ(policy.critic, obs), 0.1, 1.0, policy.sample_noise(BATCH))
    assert len(trace.lambdas) == policy.n_iterations + 1 and len(trace.gates) == policy.n_iterations
    assert all(mu.shape == log_std.shape == (BATCH, 3) for mu, log_std in trace.lambdas)
    # zero-initialised heads: every gate starts at exactly 0.5
    assert all(th.equal(gate, th.full((BATCH, 6), 0.5)) for gate in trace.gates)

    randomize_heads(policy, std=3.0)
    trace = policy.optimize(obs, EnsembleQ(policy.critic, obs), 0.1, 1.0, policy.sample_noise(BATCH))
    gates = th.stack(trace.gates)
    assert ((gates >= 0) & (gates <= 1)).all()
    assert gates.min() < 0.1 and gates.max() > 0.9


def test_actor_loss_reaches_actor_only():
    th.manual_seed(0)
    policy = make_policy()
    obs = random_obs()
    noise = policy.sample_noise(BATCH)
    _, (loss, _) = optimize_and_loss(policy, obs, EnsembleQ(policy.critic, obs), 0.1, 1.0, noise)
    loss.backward()
    # zero-initialised heads still get a gradient, or training could never start
    assert policy.actor.update_and_gate.weight.grad.abs().sum() > 0

    policy.actor.zero_grad(set_to_none=True)
    randomize_heads(policy)
    _, (loss, _) = optimize_and_loss(policy, obs, EnsembleQ(policy.critic, obs), 0.1, 1.0, noise)
    loss.backward()
    for name, param in policy.actor.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    for module in (policy.critic, policy.critic_target):
        assert all(param.grad is None for param in module.parameters())


def straightforward_update(actor, features, mu, log_std, estimate):
    """Eq. 12 as written: f_φ on the concatenated [s, normalized λ and ∇_λ J], no split first layer."""
    blocks = th.stack([mu, log_std, *estimate.gradient], dim=1)
    inputs = th.cat([features, actor.normalize_inputs(blocks).flatten(1)], dim=1)
    out = actor.update_and_gate(actor.latent_pi(inputs))
    update_mu, update_log_std, gate_logits = out.split([actor.action_dim, actor.action_dim, 2 * actor.action_dim], dim=1)
    gate_mu, gate_log_std = th.sigmoid(gate_logits).chunk(2, dim=1)
    update_log_std = soft_clamp(update_log_std, LOG_STD_MIN, LOG_STD_MAX)
    return gate_mu * mu + (1 - gate_mu) * update_mu, gate_log_std * log_std + (1 - gate_log_std) * update_log_std


def straightforward_loss(policy, obs, q_function, ent_coef, beta, noise) -> th.Tensor:
    """−mean_k J(λ_k) with autograd through the critic; λ_{k−1} enters update k detached."""
    actor = policy.actor
    if policy.actor_kind == "direct":
        mu, log_std, _ = actor.get_action_dist_params(obs)
        return -objective(q_function, mu, log_std, noise[0], ent_coef, beta).value.mean()
    features = actor.extract_features(obs, actor.features_extractor)
    mu, log_std = actor.initial_parameters(obs.shape[0])
    values = []
    for k in range(policy.n_iterations):
        estimate = objective_gradient(q_function, mu, log_std, noise[k], ent_coef, beta)
        mu, log_std = straightforward_update(actor, features, mu.detach(), log_std.detach(), estimate)
        values.append(objective(q_function, mu, log_std, noise[k + 1], ent_coef, beta).value)
    return -th.stack(values).mean()


@pytest.mark.parametrize("actor", ["iterative", "direct"])
def test_surrogate_gradient_equals_straightforward_gradient(actor):
    th.manual_seed(0)
    policy = make_policy(actor=actor, n_critics=3, n_action_samples=2)
    if actor == "iterative":
        randomize_heads(policy)
    obs = random_obs()
    q_function = EnsembleQ(policy.critic, obs)
    noise = policy.sample_noise(BATCH)
    params = list(policy.actor.parameters())

    _, (loss, value) = optimize_and_loss(policy, obs, q_function, 0.2, 2.5, noise)
    surrogate_grads = th.autograd.grad(loss, params)
    reference = straightforward_loss(policy, obs, q_function, 0.2, 2.5, noise)
    reference_grads = th.autograd.grad(reference, params)

    th.testing.assert_close(value, reference.detach(), rtol=0, atol=1e-6)
    assert any(grad.abs().sum() > 0 for grad in reference_grads)
    for surrogate_grad, reference_grad in zip(surrogate_grads, reference_grads, strict=True):
        th.testing.assert_close(surrogate_grad, reference_grad, rtol=0, atol=1e-5)


def test_iterative_actor_learns_to_optimize_a_known_critic():
    th.manual_seed(0)
    policy = make_policy(net_arch=(64, 64), n_action_samples=4)
    ent_coef, beta = 0.01, 0.0

    def optimum(obs):
        return (0.6 * obs).clamp(-0.8, 0.8)

    def known_critic(obs):  # Q(s, a) = −||a − a*(s)||², one critic
        a_star = optimum(obs)
        return EnsembleValue(lambda actions: -((actions - a_star) ** 2).sum(-1, keepdim=True))

    optimizer = th.optim.Adam(policy.actor.parameters(), lr=1e-3)
    for _ in range(300):
        obs = random_obs(64)
        _, (loss, _) = optimize_and_loss(policy, obs, known_critic(obs), ent_coef, beta, policy.sample_noise(64))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    obs = random_obs(256)
    with th.no_grad():
        trace = policy.optimize(obs, known_critic(obs), ent_coef, beta, policy.sample_noise(256))
        evaluation_noise = th.randn(512, 256, 2)
        values = [
            objective(known_critic(obs), mu, log_std, evaluation_noise, ent_coef, beta).value.mean().item()
            for mu, log_std in trace.lambdas
        ]
    assert values[-1] - values[0] > 0.3, values
    assert all(value > values[0] for value in values[1:]), values
    assert values[-1] >= max(values) - 0.01, values
    assert (th.tanh(trace.mu) - optimum(obs)).abs().mean() < 0.1


def test_one_dimensional_actions_use_the_gradient():
    th.manual_seed(0)
    policy = make_policy(action_dim=1)
    randomize_heads(policy, std=1.0)
    actor = policy.actor
    # one state, one λ, four different gradients: with a layer norm over |A| = 1 they would all vanish
    features = th.zeros(4, 2)
    mu, log_std = actor.initial_parameters(4)
    grad_mu = th.tensor([[-3.0], [-0.1], [0.1], [3.0]])
    estimate = ObjectiveEstimate(
        value=th.zeros(4), actions=th.zeros(1, 4, 1), log_prob=th.zeros(1, 4), grad_mu=grad_mu, grad_log_std=-grad_mu
    )
    with th.no_grad():
        new_mu, new_log_std, gates = actor.update(actor.split_first_layer(features), mu, log_std, estimate)
    assert th.isfinite(new_mu).all() and th.isfinite(new_log_std).all() and th.isfinite(gates).all()
    assert len(th.unique(new_mu)) == 4 and len(th.unique(new_log_std)) == 4

    obs = random_obs(8)
    noise = policy.sample_noise(8)
    with th.no_grad():
        towards_plus = policy.optimize(obs, EnsembleValue(lambda a: -((a - 0.5) ** 2)), 0.1, 0.0, noise).mu
        towards_minus = policy.optimize(obs, EnsembleValue(lambda a: -((a + 0.5) ** 2)), 0.1, 0.0, noise).mu
    assert th.isfinite(towards_plus).all() and th.isfinite(towards_minus).all()
    assert not th.allclose(towards_plus, towards_minus)


def test_test_time_iterations():
    policy = make_policy()
    obs = random_obs()
    q_function = EnsembleQ(policy.critic, obs)
    policy.n_iterations = 10
    assert policy.actor.options.n_iterations == 10
    noise = policy.sample_noise(BATCH)
    assert noise.shape[0] == 11
    assert len(policy.optimize(obs, q_function, 0.1, 1.0, noise).gates) == 10
    # the actor draws its own noise when acting
    assert len(policy.actor.optimize(obs, q_function, 0.1, 1.0).gates) == 10

    with pytest.raises(ValueError, match="n_iterations"):
        policy.n_iterations = 0
    assert policy.n_iterations == policy.actor.options.n_iterations == 10

    with pytest.raises(ValueError, match="n_iterations"):
        make_policy(actor="direct").n_iterations = 10


def test_random_initial_parameters():
    policy = make_policy(action_dim=3, init_mu_std=0.7)
    actor = policy.actor
    mu, log_std = actor.initial_parameters(4000, th.Generator().manual_seed(0))
    assert mu.shape == log_std.shape == (4000, 3)
    assert abs(mu.mean().item()) < 0.03 and mu.std().item() == pytest.approx(0.7, rel=0.03)
    assert th.equal(log_std, th.full_like(log_std, math.log(policy.options.init_std)))
    again, _ = actor.initial_parameters(4000, th.Generator().manual_seed(0))
    assert th.equal(mu, again)
    shared, _ = actor.initial_parameters(5, th.Generator().manual_seed(0), shared=True)
    assert th.equal(shared, shared[:1].expand(5, -1)) and shared.abs().min() > 0
    # the paper's fixed λ_0 draws nothing
    fixed_actor = make_policy(action_dim=3).actor
    state = th.random.get_rng_state()
    fixed, _ = fixed_actor.initial_parameters(4)
    assert th.equal(fixed, th.zeros(4, 3)) and th.equal(th.random.get_rng_state(), state)


def test_random_start_changes_the_optimization_and_training_draws_it():
    th.manual_seed(0)
    policy = make_policy(init_mu_std=1.0)
    randomize_heads(policy)
    obs = random_obs()
    q_function = EnsembleQ(policy.critic, obs)
    noise = policy.sample_noise(BATCH)
    first = policy.optimize(obs, q_function, 0.1, 1.0, noise)
    second = policy.optimize(obs, q_function, 0.1, 1.0, noise)
    assert not th.equal(first.lambdas[0][0], second.lambdas[0][0])  # a new λ_0 for each optimization
    assert not th.equal(first.mu, second.mu)
    assert first.lambdas[0][0].std(dim=0).min() > 0  # one λ_0 per state


def test_deterministic_acting_with_a_random_start_is_deterministic_and_batch_independent():
    th.manual_seed(0)
    policy = make_policy(init_mu_std=1.0)
    randomize_heads(policy)
    policy.set_training_mode(False)
    obs = random_obs(6).numpy()
    alone, _ = policy.predict(obs[:1], deterministic=True)
    batch, _ = policy.predict(obs, deterministic=True)
    again, _ = policy.predict(obs, deterministic=True)
    np.testing.assert_array_equal(batch, again)
    np.testing.assert_allclose(alone[0], batch[0], atol=1e-6)
    # stochastic actions start each optimization anew: the same observation gets different λ_K
    repeated = np.repeat(obs[:1], 2, axis=0)
    policy.actor.options = policy.actor.options.replace(n_iterations=1)
    with th.no_grad():
        _, initial = policy.actor.acting_draws(2, deterministic=False, initial=None)
    assert initial is not None and not th.equal(initial[0][0], initial[0][1])
    stochastic, _ = policy.predict(repeated, deterministic=False)
    assert not np.array_equal(stochastic[0], stochastic[1])


def test_gradient_magnitudes_as_andrychowicz():
    gradient = (th.tensor([[2.0, -1e-6]]), th.tensor([[-0.5, 0.0]]))
    encoded = IterativeActor.gradient_magnitudes(gradient)
    p = 10.0
    expected = th.tensor([[math.log(2.0) / p, -1.0, math.log(0.5) / p, -1.0, 1.0, -1e-6 * math.exp(p), -1.0, 0.0]])
    th.testing.assert_close(encoded, expected)


def test_gradient_magnitude_lets_the_optimizer_see_how_steep_j_is():
    """With the normalized inputs alone (|A| > 1) the update reads only the gradient's pattern: scaling ∇_λ J
    changes nothing. With ``gradient_magnitude`` it does."""
    for gradient_magnitude, reads_scale in ((False, False), (True, True)):
        th.manual_seed(0)
        policy = make_policy(action_dim=3, gradient_magnitude=gradient_magnitude)
        randomize_heads(policy, std=1.0)
        actor = policy.actor
        assert actor.latent_pi[0].in_features == 2 + (8 if gradient_magnitude else 4) * 3
        features = random_obs(4)
        mu, log_std = actor.initial_parameters(4)
        grad_mu, grad_log_std = th.randn(4, 3), th.randn(4, 3)
        updates = []
        for scale in (1.0, 10.0):
            estimate = ObjectiveEstimate(
                value=th.zeros(4), actions=th.zeros(1, 4, 3), log_prob=th.zeros(1, 4),
                grad_mu=scale * grad_mu, grad_log_std=scale * grad_log_std,
            )  # fmt: skip
            with th.no_grad():
                updates.append(actor.update(actor.split_first_layer(features), mu, log_std, estimate)[0])
        assert th.allclose(updates[0], updates[1], atol=1e-5) != reads_scale


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(init_mu_std=-0.1), "init_mu_std must be a finite number >= 0"),
        (dict(init_mu_std=float("nan")), "init_mu_std must be a finite number >= 0"),
        (dict(init_mu_std="1"), "init_mu_std must be a finite number >= 0"),
        (dict(init_mu_std=1.0, actor="direct"), "init_mu_std applies to the iterative actor only"),
        (dict(init_mu_std=1.0, actor="flow"), "init_mu_std applies to the iterative actor only"),
        (dict(init_mu_std=1.0, warm_start=True), "with warm_start"),
        (dict(gradient_magnitude=1), "gradient_magnitude must be True or False"),
        (dict(gradient_magnitude=True, actor="direct"), "gradient_magnitude applies to the iterative actor only"),
        (dict(residual_update="yes"), "residual_update must be True or False"),
        (dict(residual_update=True, actor="flow"), "residual_update applies to the iterative actor only"),
    ],
)
def test_bad_lever_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_policy(**kwargs)


def test_random_start_set_after_training():
    policy = make_policy()
    policy.init_mu_std = 0.3
    assert policy.actor.options.init_mu_std == 0.3 and policy._get_constructor_parameters()["init_mu_std"] == 0.3
    with pytest.raises(ValueError, match="init_mu_std"):
        policy.init_mu_std = -1
    assert policy.init_mu_std == policy.actor.options.init_mu_std == 0.3
    with pytest.raises(ValueError, match="iterative actor only"):
        make_policy(actor="direct").init_mu_std = 0.3


def test_residual_update_steps_from_the_current_lambda():
    th.manual_seed(0)
    obs = random_obs()
    for residual_update in (False, True):
        policy = make_policy(action_dim=3, residual_update=residual_update, init_mu_std=1.0)
        q_function = EnsembleQ(policy.critic, obs)
        with th.no_grad():
            trace = policy.optimize(obs, q_function, 0.1, 1.0, policy.sample_noise(BATCH))
        (mu_0, log_std_0), (mu_1, log_std_1) = trace.lambdas[:2]
        if residual_update:  # zero heads: Δ = 0, the identity (log σ through its soft clamp, as every δ)
            assert th.equal(mu_1, mu_0)
            th.testing.assert_close(log_std_1, th.lerp(soft_clamp(log_std_0, LOG_STD_MIN, LOG_STD_MAX), log_std_0, 0.5))
        else:  # zero heads: δ = 0 and ω = 0.5, halfway to the origin
            assert th.allclose(mu_1, 0.5 * mu_0)

    policy = make_policy(action_dim=3, residual_update=True)
    randomize_heads(policy, std=0.5)
    actor = policy.actor
    features = random_obs(4)
    mu, log_std = th.randn(4, 3), th.full((4, 3), -1.0)
    estimate = ObjectiveEstimate(
        value=th.zeros(4),
        actions=th.zeros(1, 4, 3),
        log_prob=th.zeros(1, 4),
        grad_mu=th.randn(4, 3),
        grad_log_std=th.randn(4, 3),
    )
    with th.no_grad():
        new_mu, _, gate = actor.update(actor.split_first_layer(features), mu, log_std, estimate)
        hidden = actor.latent_pi(
            th.cat([features, actor.normalize_inputs(th.stack([mu, log_std, *estimate.gradient], dim=1)).flatten(1)], dim=1)
        )
        step = actor.update_and_gate(hidden)[:, :3]
    th.testing.assert_close(new_mu, mu + (1 - gate[:, :3]) * step)  # λ_k = λ_{k−1} + (1 − ω) ⊙ Δ
