"""Same seed, same run (in the shape of sb3-contrib's test_deterministic)."""

import numpy as np
import torch as th

from sb3_iterative import IterativeSAC


def seeded_run(seed: int) -> tuple[dict[str, th.Tensor], th.Tensor]:
    model = IterativeSAC(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=50,
        batch_size=32,
        policy_kwargs=dict(net_arch=[32, 32], actor="iterative"),
        seed=seed,
        device="cpu",
    )
    model.learn(120)
    model.observation_space.seed(0)
    obs = np.stack([model.observation_space.sample() for _ in range(8)])
    actions, _ = model.predict(obs, deterministic=True)
    return model.policy.state_dict(), th.as_tensor(actions)


def test_same_seed_same_run():
    first_state, first_actions = seeded_run(seed=3)
    second_state, second_actions = seeded_run(seed=3)
    assert first_state.keys() == second_state.keys()
    for key in first_state:
        assert th.equal(first_state[key], second_state[key]), key
    assert th.equal(first_actions, second_actions)


def test_different_seed_different_run():
    first_state, _ = seeded_run(seed=3)
    other_state, _ = seeded_run(seed=4)
    assert any(not th.equal(first_state[key], other_state[key]) for key in first_state if key.startswith("actor."))


def test_deterministic_actions_repeat_and_leave_global_rng_alone():
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(net_arch=[32, 32]), seed=0, device="cpu")
    obs = np.stack([model.observation_space.sample() for _ in range(4)])
    rng_state = th.get_rng_state()
    first, _ = model.predict(obs, deterministic=True)
    second, _ = model.predict(obs, deterministic=True)
    assert np.array_equal(first, second)
    assert th.equal(th.get_rng_state(), rng_state)
    # Stochastic actions do draw from the global generator
    model.predict(obs, deterministic=False)
    assert not th.equal(th.get_rng_state(), rng_state)


def test_deterministic_action_depends_on_the_observation_alone():
    """The samples behind ∇J are shared by the batch: an observation gets the same deterministic
    action alone, or at any place in a batch of any size (one env or a VecEnv of several)."""
    model = IterativeSAC(
        "MlpPolicy", "Pendulum-v1", learning_starts=50, batch_size=32, policy_kwargs=dict(net_arch=[32, 32]), seed=0
    )
    model.learn(150)
    model.observation_space.seed(1)
    obs = np.stack([model.observation_space.sample() for _ in range(5)])
    batched, _ = model.predict(obs, deterministic=True)
    reversed_batch, _ = model.predict(obs[::-1].copy(), deterministic=True)
    alone = np.concatenate([model.predict(row[None], deterministic=True)[0] for row in obs])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(reversed_batch[::-1], alone, rtol=0, atol=1e-6)
