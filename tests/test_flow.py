"""The flow-policy baseline (paper Appendix B.2): IterativeSAC with actor="flow", SAC with a
normalizing-flow policy. Its density against the flow library's, where its gradients go, a
two-peaked task a Gaussian cannot cover, save/load, seeding and the analyses."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from zuko.distributions import NormalizingFlow
from zuko.transforms import ComposedTransform

from sb3_iterative import IterativeSAC, IterativeSACPolicy, analysis
from sb3_iterative.analyze import run_analyses
from sb3_iterative.common.iterative_actor import actor_loss
from sb3_iterative.distributions import TanhFlow
from sb3_iterative.flow_actor import FlowActor

from helpers import SMALL, short_env


def flow_sac(env="Reacher-v5", seed: int = 0, **kwargs) -> IterativeSAC:
    policy_kwargs = dict(net_arch=[32, 32], actor="flow", flow_net_arch=[32, 32]) | kwargs.pop("policy_kwargs", {})
    return IterativeSAC("MlpPolicy", env, beta=1.0, policy_kwargs=policy_kwargs, seed=seed, **{**SMALL, **kwargs})


def short_reacher() -> gym.Env:
    return short_env("Reacher-v5", max_episode_steps=20)


def flow_of_random_states(model: IterativeSAC, n_states: int) -> tuple[th.Tensor, th.Tensor, TanhFlow]:
    """λ and the actor's flow bound to random states, in float64 (the library's inverse is then exact to 1e-9)."""
    model.actor.double()
    generator = th.Generator().manual_seed(1)
    features = th.randn(n_states, model.actor.features_dim, dtype=th.float64, generator=generator)  # flattened obs
    mu = 0.5 * th.randn(n_states, model.actor.action_space.shape[0], dtype=th.float64, generator=generator)
    log_std = th.full_like(mu, np.log(0.5))
    with th.no_grad():
        return mu, log_std, TanhFlow(ComposedTransform(*(transform(features) for transform in model.actor.flow)))


def test_policy_is_sac_actor_with_two_reversed_autoregressive_transforms():
    model = flow_sac(env="HalfCheetah-v5", policy_kwargs=dict(flow_net_arch=[256, 256]))
    actor = model.actor
    assert isinstance(actor, FlowActor) and model.policy.actor_kind == "flow"
    assert len(actor.flow) == 2
    orders = [transform.order.tolist() for transform in actor.flow]
    assert orders == [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]]
    hidden = [layer.out_features for layer in actor.flow[0].hyper if isinstance(layer, th.nn.Linear)][:-1]
    assert hidden == [256, 256]
    # the transforms see the state: their first layer takes the actions and the observation's features
    assert actor.flow[0].hyper[0].in_features == 6 + 17


def test_log_density_of_own_samples_equals_the_flow_library_log_prob():
    mu, log_std, flow = flow_of_random_states(flow_sac(), 16)
    noise = th.randn(8, *mu.shape, dtype=th.float64, generator=th.Generator().manual_seed(0))
    library = flow.distribution(mu, log_std)
    assert isinstance(library, NormalizingFlow)
    with th.no_grad():
        actions, log_prob = flow.sample(mu, log_std, noise)
        # the library inverts tanh and every transform to value the given actions
        np.testing.assert_allclose(library.log_prob(actions).numpy(), log_prob.numpy(), rtol=1e-6, atol=1e-6)
        # and the tanh correction is in it: without the tanh, the density is another one
        pre_tanh = NormalizingFlow(flow.squash.transforms[0].inv, library.base).log_prob(th.atanh(actions))
    assert (pre_tanh - log_prob).abs().min() > 1e-3


def test_density_integrates_to_one_over_the_action_box():
    mu, log_std, flow = flow_of_random_states(flow_sac(), 1)
    library = flow.distribution(mu, log_std)
    n = 800
    edges = np.linspace(-1, 1, n + 1)
    centres = th.as_tensor((edges[:-1] + edges[1:]) / 2)
    grid = th.stack(th.meshgrid(centres, centres, indexing="ij"), dim=-1).reshape(-1, 1, 2)  # [G, 1, A]
    with th.no_grad():
        density = library.log_prob(grid).exp()
    assert float(density.sum()) * (2 / n) ** 2 == pytest.approx(1.0, abs=0.01)


def test_gradients_reach_the_flow_from_the_actor_loss_only():
    model = flow_sac(env=short_reacher()).learn(60)
    flow_parameters = list(model.actor.flow.parameters())
    # every parameter of the flow moves with the actor's loss ...
    obs = model.replay_buffer.sample(32).observations
    ent_coef = model._current_ent_coef()
    noise = model.policy.sample_noise(32)
    value_estimate = model.policy.value_estimate(obs, ent_coef)
    trace = model.policy.optimize(obs, value_estimate, ent_coef, model.beta, noise)
    loss, _ = actor_loss(trace, value_estimate, noise[-1], ent_coef, model.beta)
    model.actor.optimizer.zero_grad()
    loss.backward()
    assert all(param.grad is not None and param.grad.abs().sum() > 0 for param in flow_parameters)
    # ... and a training step backpropagates into the flow once: the actor's loss, not the critic's
    reached = []
    handles = [param.register_hook(lambda grad: reached.append(1)) for param in flow_parameters[:1]]
    critic_reached = []
    handles += [param.register_hook(lambda grad: critic_reached.append(1)) for param in list(model.critic.parameters())[:1]]
    model.train(gradient_steps=1, batch_size=32)
    for handle in handles:
        handle.remove()
    assert len(reached) == 1
    assert len(critic_reached) == 2  # the critic's loss, and the actor's loss through Q (zeroed before the critic's step)


ENT_COEF = 0.2  # π* ∝ exp(r/α) has two clear, equal modes
BIMODAL_STEPS = 2000
PEAKS = np.array([[0.5, 0.5], [-0.5, -0.5]])


class TwoPeaks(gym.Env):
    """One step from a constant state; r(a) = two equal Gaussian bumps at (0.5, 0.5) and (−0.5, −0.5)."""

    observation_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        squared = ((action[None] - PEAKS) ** 2).sum(axis=-1)
        return np.zeros(1, dtype=np.float32), float(np.exp(-squared / (2 * 0.15**2)).sum()), True, False, {}


def peak_mass(actor: str) -> list[float]:
    """The share of a trained policy's samples within 0.25 of each peak of :class:`TwoPeaks`."""
    model = IterativeSAC(
        "MlpPolicy", TwoPeaks(), beta=1.0, ent_coef=ENT_COEF, learning_starts=200, learning_rate=1e-3,
        policy_kwargs=dict(actor=actor, net_arch=[64, 64]) | (dict(flow_net_arch=[64, 64]) if actor == "flow" else {}),
        seed=0,
    )  # fmt: skip
    model.learn(BIMODAL_STEPS)
    actions, _ = model.predict(np.zeros((2000, 1), dtype=np.float32))
    return [float((np.linalg.norm(actions - peak, axis=1) < 0.25).mean()) for peak in PEAKS]


@pytest.mark.expensive
def test_flow_policy_covers_both_peaks_of_a_two_peaked_reward_where_a_gaussian_cannot():
    near = peak_mass("flow")
    assert min(near) > 0.2, near  # clear mass at both peaks
    assert sum(near) > 0.6, near  # and most of it there, not between or beside them
    gaussian = peak_mass("direct")  # SAC's tanh-Gaussian, trained the same way, spreads over the square
    assert max(gaussian) < 0.15 or min(gaussian) < 0.05, gaussian


def test_save_load_keeps_deterministic_predictions(tmp_path):
    model = flow_sac(env=short_reacher()).learn(80)
    obs = np.stack([model.observation_space.sample() for _ in range(6)])
    actions, _ = model.predict(obs, deterministic=True)
    assert not np.allclose(actions, model.predict(obs)[0])  # stochastic actions differ
    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip", env=short_reacher())
    assert isinstance(loaded.actor, FlowActor) and loaded.policy.flow_net_arch == [32, 32]
    np.testing.assert_array_equal(loaded.predict(obs, deterministic=True)[0], actions)
    model.policy.save(tmp_path / "policy.pth")
    np.testing.assert_array_equal(
        IterativeSACPolicy.load(tmp_path / "policy.pth").predict(obs, deterministic=True)[0], actions
    )
    loaded.learn(20, reset_num_timesteps=False)  # and it trains on


def test_deterministic_action_is_the_base_mean_through_the_flow_and_tanh():
    model = flow_sac()
    obs = th.as_tensor(np.stack([model.observation_space.sample() for _ in range(5)]))
    with th.no_grad():
        mu, _, _ = model.actor.get_action_dist_params(obs)
        features = model.actor.extract_features(obs, model.actor.features_extractor)
        expected = mu
        for transform in model.actor.flow:
            expected = transform(features)(expected)
        np.testing.assert_allclose(model.actor(obs, deterministic=True).numpy(), th.tanh(expected).numpy(), rtol=1e-6)


def test_same_seed_same_run():
    first, second = (flow_sac(env=short_reacher(), seed=3).learn(80) for _ in range(2))
    for (key, value), other in zip(first.policy.state_dict().items(), second.policy.state_dict().values(), strict=True):
        assert th.equal(value, other), key


def test_vec_envs_callbacks_and_evaluate_policy():
    calls = []
    model = flow_sac(env=make_vec_env(short_reacher, n_envs=2, seed=0))
    model.learn(80, callback=lambda _locals, _globals: calls.append(1) or True)
    assert model.num_timesteps == 80 and len(calls) == 40
    mean, _ = evaluate_policy(model, make_vec_env(short_reacher, n_envs=2, seed=1), n_eval_episodes=2)
    assert np.isfinite(mean)


def test_amortization_gap_runs_on_a_flow_agent_and_moves_the_base_gaussian():
    model = flow_sac(env=short_reacher()).learn(80)
    states = analysis.collect_states(model, short_reacher(), n=8, seed=0)
    gap = analysis.amortization_gap(model, states, n_steps=30)
    assert gap.gap.shape == (8,) and np.isfinite(gap.gap).all()
    assert gap.gap.mean() > 0  # Adam on the base λ finds more J than the young actor gives
    assert not np.allclose(gap.amortized_mu, gap.optimized_mu)


def test_analyses_run_or_refuse_with_a_reason_on_a_flow_agent(tmp_path):
    model = flow_sac(env=short_reacher()).learn(80)
    states = analysis.collect_states(model, short_reacher(), n=6, seed=0)
    with pytest.raises(ValueError, match="flow policy"):
        analysis.policy_modes(model, states)
    with pytest.raises(ValueError, match="actor is flow"):
        analysis.improvement_per_iteration(model, states)
    results = run_analyses(model, "Reacher-v5", tmp_path, states=states, adam_steps=5, resolution=5, value_pairs=2, horizon=5)
    assert results["model"]["actor"] == "flow"
    assert "not applicable" in results["modes"] and "not applicable" in results["optimizers"]
    assert {"amortization_gap", "landscape", "value_bias"} <= set(results["figures"])


@pytest.mark.parametrize(
    ("policy_kwargs", "match"),
    [
        (dict(actor="flow", flow_transforms=0), "flow_transforms must be an integer >= 1"),
        (dict(actor="flow", flow_net_arch=[]), "flow_net_arch must be a non-empty list"),
        (dict(actor="flow", flow_net_arch=[64, 0]), "flow_net_arch must be a non-empty list"),
        (dict(actor="direct", flow_transforms=2), "flow_transforms applies to actor='flow' only"),
        (dict(actor="iterative", flow_net_arch=[64]), "flow_net_arch applies to actor='flow' only"),
        (dict(actor="iterative", flow_net_arch=np.array([64, 64])), "flow_net_arch applies to actor='flow' only"),
        (dict(actor="flow", value_estimator="model"), "value_estimator='model' needs a Gaussian rollout policy"),
    ],
)
def test_bad_flow_options_are_refused(policy_kwargs, match):
    with pytest.raises(ValueError, match=match):
        IterativeSAC("MlpPolicy", "Pendulum-v1", beta=1.0, policy_kwargs=policy_kwargs)


def test_gsde_and_discrete_actions_are_refused():
    with pytest.raises(ValueError, match="gSDE"):
        IterativeSAC("MlpPolicy", "Pendulum-v1", beta=1.0, use_sde=True, policy_kwargs=dict(actor="flow"))
    with pytest.raises(ValueError, match="action space"):
        IterativeSAC("MlpPolicy", "CartPole-v1", beta=1.0, policy_kwargs=dict(actor="flow"))
