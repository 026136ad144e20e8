"""What the optimizer learns on the multiple-modes bed (sb3_iterative/envs.py; benchmarks/modes_bed.py)."""

import numpy as np
import pytest

from sb3_iterative import IterativeSAC, analysis
from sb3_iterative.envs import MultiModalBandit

# The bed's settings (benchmarks/modes_bed.py), on a shorter budget
SETTINGS = dict(learning_rate=1e-3, ent_coef="auto_0.1", batch_size=128, learning_starts=500, seed=0)


@pytest.mark.expensive
def test_random_starts_with_residual_updates_reach_both_modes_where_the_default_reaches_one():
    env = MultiModalBandit(action_dim=2)  # two equally good actions, ±(0.5, 0.5)
    state = np.ones(1, dtype=np.float32)
    masses, runs = {}, {}
    for name, levers in (("default", {}), ("levers", dict(residual_update=True, init_mu_std=1.0))):
        model = IterativeSAC("MlpPolicy", env, policy_kwargs=dict(net_arch=[64, 64], **levers), **SETTINGS)
        model.learn(2500)
        masses[name] = analysis.mode_mass(model, state, env.modes)
        runs[name] = analysis.policy_modes(model, state[None], n_runs=20).n_modes(radius=0.47)[0]
    # the paper's optimizer learns one of the two optima, as SAC does: every action near it
    assert masses["default"].max() > 0.9 and masses["default"].min() < 0.02 and runs["default"] == 1
    # from random starts, a residual optimizer ends near the optimum each start leads to: both are reached
    assert masses["levers"].min() > 0.2 and masses["levers"].sum() > 0.6 and runs["levers"] >= 2
