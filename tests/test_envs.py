"""The multiple-modes bed (sb3_iterative/envs.py)."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from sb3_iterative.envs import MultiModalBandit, mode_centers


def test_mode_centers():
    np.testing.assert_array_equal(mode_centers(2), [[-0.5, -0.5], [0.5, 0.5]])
    corners = mode_centers(2, 4)
    assert corners.shape == (4, 2) and len({tuple(c) for c in corners}) == 4 and (np.abs(corners) == 0.5).all()
    six = mode_centers(6, 3)
    assert six.shape == (3, 6) and np.array_equal(six[0], -six[1])
    for action_dim, n_modes in ((0, 2), (2, 1), (2, 5), (2.0, 2)):
        with pytest.raises(ValueError):
            mode_centers(action_dim, n_modes)


def test_every_mode_is_an_equal_optimum():
    env = MultiModalBandit(action_dim=3, n_modes=4)
    check_env(env, skip_render_check=True)
    np.testing.assert_allclose(env.reward(env.modes), 1.0)
    between = env.modes[:2].mean(axis=0)
    assert env.reward(between) < 0.01
    assert env.reward(env.modes[0] + 0.1) < 1.0
    obs, _ = env.reset(seed=0)
    next_obs, reward, terminated, truncated, _ = env.step(env.modes[1])
    assert reward == pytest.approx(1.0) and terminated and not truncated and np.array_equal(obs, next_obs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(action_dim=2, modes=np.zeros((2, 3))), "modes"),
        (dict(action_dim=2, modes=np.full((2, 2), 1.5)), "modes"),
        (dict(width=0.0), "width"),
    ],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiModalBandit(**kwargs)
