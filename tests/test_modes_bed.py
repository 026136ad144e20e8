"""What the optimizer learns on the multiple-modes bed (sb3_iterative/envs.py; benchmarks/modes_bed.py): several
optima from one state, and a changed objective followed to its optimum, on both mirror beds: modes along
±0.5·(1, 1), the direction the paper's input normalization erases, and along ±(0.5, −0.5), the direction it keeps
(the same bed with one action axis reflected)."""

import numpy as np
import pytest

from sb3_iterative import IterativeSAC, analysis
from sb3_iterative.envs import MultiModalBandit

# The bed's settings (benchmarks/modes_bed.py), on a shorter budget
SETTINGS = dict(learning_rate=1e-3, ent_coef="auto_0.1", batch_size=128, learning_starts=500, seed=0)
LEVERS = dict(residual_update=True, init_mu_std=1.0, gradient_magnitude=True)
SEEN = dict(input_normalization="symlog")  # inputs that keep each block's mean and scale
PERTURBED = dict(input_normalization="symlog", objective_perturbation=8.0)  # and trained on perturbed objectives
ERASED, KEPT = np.array([[0.5, 0.5], [-0.5, -0.5]]), np.array([[0.5, -0.5], [-0.5, 0.5]])


def modes_and_changed_objective(options: dict, modes: np.ndarray) -> tuple[np.ndarray, int, float]:
    """Train on the bed; the mass near each mode, the modes among 20 runs of the optimizer, and the mass on the
    less visited mode once J is changed at test time to make it the one optimum (J there 1, at the other 1 − 8·2),
    with K + 20 iterations."""
    env = MultiModalBandit(action_dim=2, modes=modes)
    state = np.ones(1, dtype=np.float32)
    model = IterativeSAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64], **options), **SETTINGS)
    model.learn(2500)
    mass = analysis.mode_mass(model, state, env.modes)
    runs = analysis.policy_modes(model, state[None], n_runs=20).n_modes(radius=0.47)[0]
    less_visited = int(np.argmin(mass))
    changed = analysis.ChangedObjective(model, analysis.action_target_penalty(8.0, env.modes[less_visited]))
    model.policy.n_iterations = 25
    return mass, runs, analysis.mode_mass(changed, state, env.modes)[less_visited]


@pytest.mark.expensive
@pytest.mark.parametrize("modes", [ERASED, KEPT], ids=["erased", "kept"])
def test_the_levers_reach_both_modes_only_along_the_direction_the_paper_normalization_erases(modes):
    # random starts, residual updates and gradient magnitudes, with the paper's inputs: both modes and the changed
    # J followed along ±0.5·(1, 1), where the normalized inputs cannot tell the modes apart, so random starts
    # survive; on the same bed reflected across one action axis, one mode and the changed J not followed
    mass, runs, followed = modes_and_changed_objective(LEVERS, modes)
    if modes is ERASED:
        assert mass.min() > 0.2 and mass.sum() > 0.6 and runs >= 2 and followed > 0.9
    else:
        assert mass.min() < 0.05 and followed < 0.1


@pytest.mark.expensive
@pytest.mark.parametrize("options", [{}, SEEN], ids=["paper", "symlog"])
def test_trained_on_its_one_objective_the_optimizer_lands_on_one_mode_and_ignores_a_changed_one_whatever_it_sees(
    options,
):
    # the paper's optimizer learns one of the two optima, as SAC does, and does not leave it when J changes, even with
    # 20 more iterations; with inputs that keep what the normalization erases (symlog), the same
    mass, runs, followed = modes_and_changed_objective(options, ERASED)
    assert mass.max() > 0.9 and mass.min() < 0.02 and runs == 1 and followed < 0.02


@pytest.mark.expensive
@pytest.mark.parametrize("modes", [ERASED, KEPT], ids=["erased", "kept"])
def test_an_optimizer_that_sees_its_inputs_and_was_trained_on_perturbed_objectives_reaches_both_modes(modes):
    # trained on random pulls that it sees only through ∇J, it reads the gradients: from λ_0 its stochastic
    # gradients lead it to either optimum, and it follows the changed J, on both mirror beds
    mass, runs, followed = modes_and_changed_objective(PERTURBED, modes)
    assert mass.min() > 0.2 and mass.sum() > 0.85 and runs >= 2 and followed > 0.9
