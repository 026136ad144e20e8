"""The analyses (sb3_iterative/analysis/) on critics whose optimum is known, and the analyze CLI.

The known critic: Q(s, a) = −4·min_j ‖a − p_j‖², the same for both members of the ensemble, with
α = 0, so J(s, λ) = E[Q(s, tanh(µ + σε))] is at most 0, reached at σ → 0 and tanh(µ) = a peak.
"""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from sb3_contrib import CrossQ
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor
from torch import nn

from sb3_iterative import IterativeSAC, analysis
from sb3_iterative.analysis.optimizers import action_cross_entropy_method
from sb3_iterative.objective import EnsembleValue, objective

from bandit import ContextualBandit
from helpers import recording_logger

OPTIMUM = np.array([0.5, -0.3])
BEST_MU = np.arctanh(OPTIMUM)
TWO_PEAKS = np.array([[0.5, 0.5], [-0.5, -0.5]])
SMALL_NETS = dict(net_arch=[8, 8])
STATES = np.array([[0.1, -0.2], [0.7, 0.3], [-0.5, 0.9], [0.0, 0.0]], dtype=np.float32)
EXAMPLES = Path(__file__).parent.parent / "examples"


class Peaks(nn.Module):
    """Q = −scale·min_j ‖a − p_j‖² from the critic's input [features, action]."""

    def __init__(self, n_features: int, peaks: np.ndarray, scale: float = 4.0):
        super().__init__()
        self.n_features = n_features
        self.register_buffer("peaks", th.as_tensor(peaks, dtype=th.float32))
        self.scale = scale

    def forward(self, inputs: th.Tensor) -> th.Tensor:
        actions = inputs[:, self.n_features :]
        squared_distances = (actions.unsqueeze(1) - self.peaks).pow(2).sum(dim=-1)
        return -self.scale * squared_distances.min(dim=1, keepdim=True).values


def peak_critic(model, peaks: np.ndarray) -> ContinuousCritic:
    """A two-member critic ensemble whose members are both :class:`Peaks`."""
    space = model.policy.observation_space
    critic = ContinuousCritic(
        space, model.policy.action_space, net_arch=[], features_extractor=FlattenExtractor(space),
        features_dim=space.shape[0], n_critics=0,
    )  # fmt: skip
    critic.n_critics = 2
    for index in range(2):
        q_net = nn.Sequential(Peaks(space.shape[0], peaks))  # a Sequential, as EnsembleQ reads its layers
        critic.add_module(f"qf{index}", q_net)
        critic.q_networks.append(q_net)
    return critic


def iterative_model(**kwargs) -> IterativeSAC:
    return IterativeSAC("MlpPolicy", ContextualBandit(), ent_coef=0.0, policy_kwargs=SMALL_NETS, seed=0, **kwargs)


def direct_model(mu=(0.0, 0.0), log_std: float = 0.0) -> SAC:
    """A SAC model whose actor outputs λ = (mu, log_std) in every state."""
    model = SAC("MlpPolicy", ContextualBandit(), ent_coef=0.0, policy_kwargs=SMALL_NETS, seed=0)
    with th.no_grad():
        for layer, bias in ((model.actor.mu, th.as_tensor(mu)), (model.actor.log_std, th.full((2,), log_std))):
            layer.weight.zero_()
            layer.bias.copy_(bias)
    return model


def on_peaks(model, peaks: np.ndarray = OPTIMUM[None]) -> analysis.ChangedObjective:
    return analysis.ChangedObjective(model, critic=peak_critic(model, peaks))


def test_gap_is_zero_at_the_optimum():
    gap = analysis.amortization_gap(on_peaks(direct_model(BEST_MU, log_std=-20.0)), STATES)
    np.testing.assert_allclose(gap.gap, 0.0, atol=1e-5)
    np.testing.assert_allclose(gap.optimized_value, 0.0, atol=1e-5)


def test_gap_is_positive_away_from_the_optimum():
    gap = analysis.amortization_gap(on_peaks(direct_model((0.0, 0.0), log_std=0.0)), STATES)
    assert (gap.gap > 0.1).all(), gap.gap
    assert gap.summary()["mean"] == pytest.approx(gap.gap.mean())


def test_gap_of_an_iterative_model_with_extra_iterations():
    gap = analysis.amortization_gap(on_peaks(iterative_model()), STATES, n_steps=5, n_iterations=7)
    assert gap.gap.shape == (len(STATES),) and np.isfinite(gap.gap).all()


@pytest.mark.parametrize(("cem", "cem_steps"), [("actions", 800), ("lambda", 30)])
def test_adam_and_cem_reach_the_optimum(cem, cem_steps):
    comparison = analysis.compare_optimizers(
        on_peaks(iterative_model()), STATES, adam_steps=500, cem=cem, cem_steps=cem_steps, n_eval_samples=50
    )
    for name in ("adam", "cem"):
        # within a few of Adam's steps (lr 0.01 in µ), which its noisy gradients keep taking
        np.testing.assert_allclose(np.tanh(comparison.final_mu[name]), np.broadcast_to(OPTIMUM, (len(STATES), 2)), atol=0.04)
        # J ≤ 0, 0 at σ → 0: what remains is σ, which both shrink slowly once the mean is found
        assert comparison.values[name][-1].mean() > -0.05, (name, comparison.values[name][-1])
    assert comparison.values["iterative"].shape == (6, len(STATES))  # λ_0..λ_K, K = 5
    assert comparison.values["adam"].shape == (501, len(STATES))
    assert comparison.values["cem"].shape == (cem_steps + 1, len(STATES)) and comparison.cem == cem
    assert set(comparison.seconds_per_iteration) == {"iterative", "adam", "cem"}
    # the untrained optimizer barely moves from λ_0, so Adam matches it at once
    reached = comparison.iterations_to_match("adam")
    assert reached is not None
    assert comparison.seconds_to_match("adam") == pytest.approx(reached * comparison.seconds_per_iteration["adam"])
    assert comparison.summary()["seconds_to_match"]["iterative"] == pytest.approx(
        5 * comparison.seconds_per_iteration["iterative"]
    )


def test_paper_cem_steps_towards_the_elites_fit():
    """The paper's CEM moves λ by 0.01 of the way to the Gaussian fit of its best actions: on J = Q = −|a − a*|²
    (α = 0), one step from µ = 0 moves µ towards atanh(a*) by about 1 % of the distance, and σ shrinks."""
    mu, log_std = th.zeros(1, 2), th.zeros(1, 2)
    target = th.tensor([[0.5, -0.5]])
    value = EnsembleValue(lambda actions: -((actions - target) ** 2).sum(dim=-1, keepdim=True))
    path = action_cross_entropy_method(value, mu, log_std, 0.0, 0.0, 1, 1000, 100, 0.01, th.Generator().manual_seed(0))
    step = path.mu[1] - path.mu[0]
    assert (step.sign() == th.tensor([[1.0, -1.0]])).all()
    assert step.abs().max() < 0.01 * 1.5 and step.abs().min() > 0.01 * 0.2  # 1 % of a fit at about ±0.5
    assert (path.log_std[1] < path.log_std[0]).all() and (path.log_std[1] > -0.02).all()  # 1 % towards a narrower fit


def test_landscape_argmax_is_the_optimum():
    landscape = analysis.objective_landscape(on_peaks(direct_model(log_std=-20.0)), STATES[0], dims=(0, 1), resolution=61)
    np.testing.assert_allclose(landscape.argmax, BEST_MU, atol=0.1)
    assert landscape.values.shape == (61, 61) and landscape.path.shape == (1, 2)
    figure = landscape.plot()
    assert len(figure.axes) == 2  # the contours and their colorbar


def test_landscape_of_an_iterative_model_in_one_dimension():
    landscape = analysis.objective_landscape(on_peaks(iterative_model()), STATES[1], dims=(1,), resolution=11)
    assert landscape.path.shape == (6, 1) and landscape.values.shape == (11,)
    analysis.plot_landscape(on_peaks(iterative_model()), STATES[1], dims=(1,), resolution=11)


def test_two_equal_peaks_give_two_clusters_of_runs():
    modes = analysis.policy_modes(on_peaks(direct_model(), TWO_PEAKS), STATES, n_runs=10)
    assert modes.optimizer == "adam" and modes.actions.shape == (len(STATES), 10, 2)
    to_peaks = np.linalg.norm(modes.actions[:, :, None] - TWO_PEAKS, axis=-1)  # [B, runs, peaks]
    assert (to_peaks.min(axis=-1) < 0.05).all()  # every run ends on a peak
    for nearest in to_peaks.argmin(axis=-1):  # and each state's runs find both
        assert set(nearest) == {0, 1}
    separation = np.linalg.norm(TWO_PEAKS[0] - TWO_PEAKS[1])
    distances = modes.distances
    assert ((distances < 0.1) | (np.abs(distances - separation) < 0.1)).all()
    assert modes.max_distance == pytest.approx(2 * math.sqrt(2))


def test_iterative_sac_with_the_direct_actor_is_analysed_as_direct():
    model = IterativeSAC("MlpPolicy", ContextualBandit(), policy_kwargs=dict(actor="direct", **SMALL_NETS), seed=0)
    assert analysis.policy_modes(model, STATES, n_runs=2, adam_steps=3).optimizer == "adam"
    assert analysis.objective_landscape(model, STATES[0], resolution=5).path.shape == (1, 2)
    with pytest.raises(ValueError, match="n_iterations applies to an iterative optimizer"):
        analysis.amortization_gap(model, STATES, n_iterations=3)


def test_modes_of_the_iterative_optimizer_differ_by_its_samples():
    model = iterative_model()
    th.manual_seed(0)
    for param in model.actor.update_and_gate.parameters():  # zero at initialisation: λ_K would not read ∇_λ J
        nn.init.normal_(param, std=0.3)
    modes = analysis.policy_modes(model, STATES, n_runs=3)
    assert modes.optimizer == "iterative" and modes.distances.shape == (len(STATES), 3)
    assert (modes.distances > 1e-3).all()  # the runs of each state differ: only their samples of ∇_λ J do
    again = analysis.policy_modes(model, STATES, n_runs=3)
    np.testing.assert_array_equal(again.distances, modes.distances)  # the same samples, the same runs


def test_improvement_per_iteration_beyond_the_trained_k():
    model = iterative_model()
    curve = analysis.improvement_per_iteration(on_peaks(model), STATES, n_iterations=8)
    assert curve.values.shape == (9, len(STATES)) and curve.trained_iterations == 5
    np.testing.assert_allclose(curve.improvement, curve.values[5] - curve.values[0])
    assert model.policy.n_iterations == model.actor.options.n_iterations == 5  # the model's own K is restored


def test_value_bias_of_a_one_step_task():
    # one-step episodes: the Monte Carlo return is the reward of the random action, −‖a − 0.6·s‖²
    bias = analysis.value_bias(iterative_model(), ContextualBandit, n_pairs=8, max_prefix=0)
    assert bias.bias.shape == (8,) and not bias.truncated.any()
    assert (bias.returns <= 0).all() and (bias.returns >= -8).all()
    np.testing.assert_allclose(bias.bias, bias.estimates - bias.returns)
    assert bias.summary()["beta"] == 2.5  # the training β by default


def test_changed_objective_adds_the_term_to_j():
    model = iterative_model()
    obs = th.as_tensor(STATES)
    noise = th.randn(7, len(STATES), 2)
    mu, log_std = th.randn(len(STATES), 2), th.full((len(STATES), 2), -1.0)
    q_function = model.policy.value_estimate(obs, 0.2)
    term = analysis.action_energy_penalty(0.3)
    for beta in (1.0, 2.5):
        plain = objective(q_function, mu, log_std, noise, 0.2, beta)
        changed = objective(analysis.QWithTerm(q_function, term), mu, log_std, noise, 0.2, beta)
        th.testing.assert_close(changed.value - plain.value, term(plain.actions).mean(dim=0))


def test_action_penalties():
    actions = th.tensor([[[0.5, -0.5], [0.0, 1.0]]])  # [N = 1, B = 2, A = 2]
    th.testing.assert_close(analysis.action_energy_penalty(2.0)(actions), th.tensor([[-1.0, -2.0]]))
    pull = analysis.action_target_penalty(3.0, [0.5, -0.5])
    th.testing.assert_close(pull(actions), th.tensor([[0.0, -3.0 * (0.25 + 2.25)]]))


def test_changed_objective_acts_with_the_iterative_optimizer_only():
    model = iterative_model()
    changed = analysis.ChangedObjective(model, analysis.action_energy_penalty(1.0))
    mean_return, _ = evaluate_policy(changed, Monitor(ContextualBandit()), n_eval_episodes=3)
    assert np.isfinite(mean_return)
    sac = analysis.ChangedObjective(direct_model(), analysis.action_energy_penalty(1.0))
    assert np.isfinite(analysis.amortization_gap(sac, STATES, n_steps=3).gap).all()
    with pytest.raises(TypeError, match="direct actor cannot act on a changed objective"):
        sac.predict(STATES[0])
    with pytest.raises(ValueError, match="needs a term, a critic or another model's objective"):
        analysis.ChangedObjective(model)


def test_iterative_optimizer_reads_the_gradient_of_the_changed_objective():
    model = iterative_model()
    obs = th.as_tensor(STATES)
    changed = analysis.ChangedObjective(model, analysis.action_energy_penalty(0.7))
    traces = [
        model.actor.optimize(obs, q_function, 0.0, 1.0, generator=th.Generator().manual_seed(3))
        for q_function in (model.policy.value_estimate(obs, 0.0), changed.value_estimate(obs))
    ]  # fmt: skip
    plain, penalized = (trace.estimates[0] for trace in traces)  # at λ_0, on the same samples
    actions = plain.actions
    # ∂(−c‖a‖²)/∂µ through a = tanh(u): −2c·a·(1 − a²), averaged over the samples
    th.testing.assert_close(penalized.grad_mu - plain.grad_mu, (-2 * 0.7 * actions * (1 - actions**2)).mean(dim=0))


def test_callback_logs_without_changing_training():
    def train(callback):
        model = IterativeSAC("MlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, policy_kwargs=SMALL_NETS, seed=0)
        recorder = recording_logger(model)
        model.learn(260, callback=callback)
        return model, recorder.values

    with_callback, logged = train(analysis.AnalysisCallback(eval_freq=100, n_states=16, gap_steps=5))
    assert len(logged["analysis/amortization_gap"]) == 2 and len(logged["analysis/objective_improvement"]) == 2
    without_callback, _ = train(None)
    unchanged = without_callback.policy.state_dict()
    for name, param in with_callback.policy.state_dict().items():
        assert th.equal(param, unchanged[name]), name


def test_collect_states():
    model = iterative_model()
    states = analysis.collect_states(model, ContextualBandit(), n=5)
    assert states.shape == (5, 2)
    states = analysis.collect_states(SAC("MlpPolicy", "Pendulum-v1", policy_kwargs=SMALL_NETS), "Pendulum-v1", n=7)
    assert states.shape == (7, 3)


def test_bad_input():
    model = iterative_model()
    with pytest.raises(
        TypeError, match=r"model must be a model of the package .* or a stock agent of SAC, TQC, CrossQ, got PPO"
    ):
        analysis.amortization_gap(PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=16), STATES)
    with pytest.raises(ValueError, match=r"states must be a batch of observations of shape \(n, 2\).*\(4, 3\)"):
        analysis.amortization_gap(model, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="states must be a batch"):
        analysis.policy_modes(model, STATES[0])
    with pytest.raises(ValueError, match=r"state must be one observation of shape \(2,\), got shape \(4, 2\)"):
        analysis.objective_landscape(model, STATES)
    for dims in [(0, 2), (1, 1), (-1,), (0, 1, 0), ()]:
        with pytest.raises(ValueError, match=r"dims must be one or two distinct action dimensions in 0\.\.1"):
            analysis.plot_landscape(model, STATES[0], dims=dims)
    for n_runs in (1, 0, 2.5):
        with pytest.raises(ValueError, match="n_runs must be an integer >= 2"):
            analysis.policy_modes(model, STATES, n_runs=n_runs)
    with pytest.raises(ValueError, match="optimizer='iterative' needs an iterative model"):
        analysis.policy_modes(direct_model(), STATES, optimizer="iterative")
    for function in (analysis.improvement_per_iteration, analysis.compare_optimizers):
        with pytest.raises(ValueError, match=r"model: .* actor is direct"):
            function(direct_model(), STATES)
    with pytest.raises(ValueError, match="n_iterations must be an integer >= 1"):
        analysis.improvement_per_iteration(model, STATES, n_iterations=0)
    with pytest.raises(ValueError, match="beta must be a finite number"):
        analysis.amortization_gap(model, STATES, beta=float("nan"))
    with pytest.raises(ValueError, match="value_bias compares the critic"):
        analysis.value_bias(on_peaks(model), ContextualBandit)


@pytest.mark.parametrize("algorithm", [IterativeSAC, SAC, CrossQ])
def test_cli_writes_every_file(tmp_path: Path, algorithm):
    net_arch = dict(pi=[16, 16], qf=[32, 32]) if algorithm is CrossQ else [16, 16]
    model = algorithm(
        "MlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=32, policy_kwargs=dict(net_arch=net_arch), seed=0
    )
    model.learn(300)
    model.save(tmp_path / "model")
    out = tmp_path / "analyses"
    command = [
        sys.executable, "-m", "sb3_iterative.analyze", str(tmp_path / "model.zip"), "--env", "Pendulum-v1",
        "--out", str(out), "--n-states", "8", "--n-iterations", "7", "--adam-steps", "20", "--cem-steps", "5",
        "--n-runs", "3", "--resolution", "9", "--value-pairs", "4", "--horizon", "30",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    figures = {"amortization_gap", "modes", "modes_landscape", "landscape", "value_bias"}
    if algorithm is IterativeSAC:
        figures |= {"improvement", "optimizers"}
    assert {path.name for path in out.iterdir()} == {f"{name}.png" for name in figures} | {"results.json", "summary.md"}
    results = json.loads((out / "results.json").read_text())
    assert results["model"]["algorithm"] == algorithm.__name__
    assert set(results["figures"]) == figures
    assert results["modes_density"] == "not applicable: one action dimension"
    assert sum(results["modes"]["modes_per_state"]["counts"]) == 8
    assert "amortization gap" in (out / "summary.md").read_text()
    assert "distinct modes per state" in (out / "summary.md").read_text()


def test_cli_refuses_other_models(tmp_path: Path):
    PPO("MlpPolicy", "Pendulum-v1", n_steps=16, batch_size=16).save(tmp_path / "ppo")
    from sb3_iterative.analyze import load_model

    with pytest.raises(ValueError, match=r"MODEL .* holds a ActorCriticPolicy policy"):
        load_model(tmp_path / "ppo.zip")


def test_test_time_objective_example(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            str(EXAMPLES / "test_time_objective.py"),
            "--timesteps",
            "300",
            "--episodes",
            "1",
            "--coefs",
            "0",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "| mean return |" in result.stdout
    assert "\n|   0 |" in result.stdout and "\n|   1 |" in result.stdout  # a row per coefficient


def test_an_analysis_leaves_the_policy_in_the_mode_it_found_it():
    model = iterative_model()
    model.policy.set_training_mode(True)
    analysis.amortization_gap(model, STATES, n_steps=2)
    assert model.policy.training  # back in training mode, as the model was
    model.policy.set_training_mode(False)
    analysis.amortization_gap(on_peaks(model), STATES, n_steps=2)
    assert not model.policy.training


def test_modes_are_counted_by_single_linkage_at_the_radius():
    runs = np.array([
        [[0.0, 0.0], [0.05, 0.0], [0.1, 0.0], [0.9, 0.9]],  # a chain of three, and one apart: 2 modes
        [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]],  # one mode
        [[-0.9, 0.0], [0.9, 0.0], [0.0, 0.9], [0.0, -0.9]],  # four modes
    ])  # fmt: skip
    modes = analysis.PolicyModes(mu=np.arctanh(runs), log_std=np.zeros_like(runs), optimizer="adam", beta=1.0)
    np.testing.assert_array_equal(modes.n_modes(radius=0.06), [2, 1, 4])
    np.testing.assert_array_equal(modes.n_modes(radius=0.04), [4, 1, 4])
    np.testing.assert_array_equal(modes.n_modes(radius=2.0), [1, 1, 1])
    summary = modes.summary()  # at the default radius 0.1 · 2√2
    assert summary["modes_per_state"] == dict(mean=7 / 3, counts=[1, 1, 0, 1])
    with pytest.raises(ValueError, match="radius"):
        modes.n_modes(radius=0.0)


def test_density_of_the_runs():
    mu = np.array([[[0.5, -0.5, 0.0], [-0.5, 0.5, 0.0]]])
    modes = analysis.PolicyModes(mu=mu, log_std=np.full_like(mu, -2.0), optimizer="adam", beta=1.0)
    assert modes.spread_dims() in ((0, 1), (1, 0))
    grid, density = modes.density(dims=(0, 1), resolution=201)
    cell = grid[1] - grid[0]
    assert density.sum() * cell**2 == pytest.approx(1.0, abs=0.02)  # a density over the action square
    # the two runs' peaks, one in each half of the first dimension: at (tanh −0.5, tanh 0.5) and its mirror
    for half, sign in ((slice(None, 100), -1), (slice(100, None), 1)):
        row, column = np.unravel_index(density[half].argmax(), density[half].shape)
        assert grid[half][row] == pytest.approx(sign * np.tanh(0.5), abs=0.02)
        assert grid[column] == pytest.approx(-sign * np.tanh(0.5), abs=0.02)


def test_mode_mass_of_a_policy_on_one_mode():
    model = direct_model(mu=tuple(np.arctanh(TWO_PEAKS[0])), log_std=-4.0)
    state = np.zeros(2, dtype=np.float32)
    torch_state = th.random.get_rng_state()
    mass = analysis.mode_mass(model, state, TWO_PEAKS, n_samples=500)
    assert th.equal(th.random.get_rng_state(), torch_state)
    np.testing.assert_array_equal(mass, [1.0, 0.0])
    wide = direct_model(mu=(0.0, 0.0), log_std=1.0)
    spread = analysis.mode_mass(wide, state, TWO_PEAKS, n_samples=2000)
    assert 0.02 < spread[0] < 0.3 and 0.02 < spread[1] < 0.3  # a wide policy reaches both, mostly neither
    np.testing.assert_array_equal(spread, analysis.mode_mass(wide, state, TWO_PEAKS, n_samples=2000))  # seeded
    with pytest.raises(ValueError, match="modes must have the action space's 2 dimensions"):
        analysis.mode_mass(model, state, np.zeros((2, 3)))


def test_fig_7_of_a_model():
    model = direct_model()
    figure = analysis.plot_policy_modes(on_peaks(model, TWO_PEAKS), STATES[:2], n_runs=6, adam_steps=50)
    assert len(figure.axes) >= 3
    titles = [ax.get_title() for ax in figure.axes]
    assert any(title.startswith("(a) adam: 2 modes") for title in titles), titles


def test_modes_of_the_iterative_optimizer_from_random_starts():
    model = IterativeSAC(
        "MlpPolicy", ContextualBandit(), ent_coef=0.0, policy_kwargs=dict(residual_update=True, **SMALL_NETS), seed=0
    )
    fixed = analysis.policy_modes(model, STATES, n_runs=4)
    random = analysis.policy_modes(model, STATES, n_runs=4, init_mu_std=1.0)
    assert model.policy.init_mu_std == 0.0  # restored
    # untrained residual optimizer: the identity, so the runs end where they started
    np.testing.assert_allclose(fixed.mu, 0.0)
    assert (random.distances > 0.05).all() and random.n_modes(radius=0.01).min() == 4
    with pytest.raises(ValueError, match="init_mu_std sets the iterative optimizer's starts"):
        analysis.policy_modes(model, STATES, n_runs=2, optimizer="adam", init_mu_std=1.0)
