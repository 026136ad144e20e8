"""Same seed, same run, and deterministic acting, for every algorithm (in the shape of sb3-contrib's
test_deterministic, over ``MODEL_LIST``)."""

import numpy as np
import pytest
import torch as th

from helpers import MODEL_LIST, make_model, observations


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_same_seed_same_run(algorithm, device):
    first, second = (make_model(algorithm, seed=3, device=device).learn(100) for _ in range(2))
    first_state, second_state = first.policy.state_dict(), second.policy.state_dict()
    assert first_state.keys() == second_state.keys()
    for key in first_state:
        assert th.equal(first_state[key], second_state[key]), key
    obs = observations(first, seed=0)
    np.testing.assert_array_equal(first.predict(obs, deterministic=True)[0], second.predict(obs, deterministic=True)[0])
    other = make_model(algorithm, seed=4, device=device).learn(100).policy.state_dict()
    assert any(not th.equal(value, other[key]) for key, value in first_state.items() if key.startswith("actor."))


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_deterministic_actions_repeat_and_leave_global_rng_alone(algorithm, device):
    model = make_model(algorithm, device=device).learn(60)
    obs = observations(model, 4, seed=0)
    rng_state = th.get_rng_state()
    first, _ = model.predict(obs, deterministic=True)
    np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], first)
    assert th.equal(th.get_rng_state(), rng_state)  # deterministic acting draws from its own generator
    # stochastic actions do draw from the global generator
    model.predict(obs, deterministic=False)
    assert not th.equal(th.get_rng_state(), rng_state)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_deterministic_action_depends_on_the_observation_alone(algorithm):
    """The samples behind ∇J are shared by the batch (and CrossQ's critics serve as J on their running statistics):
    an observation gets the same deterministic action alone, or at any place in a batch of any size (one env or a
    VecEnv of several)."""
    model = make_model(algorithm).learn(150)
    obs = observations(model, 5, seed=1)
    batched, _ = model.predict(obs, deterministic=True)
    reversed_batch, _ = model.predict(obs[::-1].copy(), deterministic=True)
    alone = np.concatenate([model.predict(row[None], deterministic=True)[0] for row in obs])
    np.testing.assert_allclose(batched, alone, rtol=0, atol=1e-6)
    np.testing.assert_allclose(reversed_batch[::-1], alone, rtol=0, atol=1e-6)
