"""IterativeSAC and IterativeTQC learn a task whose optimal action is known."""

import numpy as np
import pytest

from sb3_iterative import IterativeSAC, IterativeTQC

from bandit import ContextualBandit

pytestmark = pytest.mark.expensive  # trains agents or runs command lines: minutes


@pytest.mark.parametrize("actor", ["iterative", "direct"])
@pytest.mark.parametrize(
    "algorithm, critic_kwargs", [(IterativeSAC, {}), (IterativeTQC, dict(n_quantiles=10))], ids=["sac", "tqc"]
)
def test_learns_state_dependent_best_action(algorithm, critic_kwargs: dict, actor: str) -> None:
    model = algorithm(
        "MlpPolicy",
        ContextualBandit(),
        learning_starts=200,
        batch_size=64,
        learning_rate=3e-3,
        seed=0,
        device="cpu",
        policy_kwargs=dict(actor=actor, net_arch=[64, 64], **critic_kwargs),
    )
    model.learn(2000)

    rng = np.random.default_rng(1)
    states = rng.uniform(-1.0, 1.0, size=(200, 2)).astype(np.float32)
    actions, _ = model.predict(states, deterministic=True)
    error = np.abs(actions - ContextualBandit.best_action(states))
    # A random policy is off by about 0.6 per dimension; the learned one must be near a*(s)
    assert error.mean() < 0.08, error.mean()
    assert np.corrcoef(actions[:, 0], states[:, 0])[0, 1] > 0.95
