"""actor="direct", β = 1, two critics: IterativeSAC is SB3's SAC, parameter for parameter."""

import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.sac.policies import CnnPolicy

from sb3_iterative import IterativeSAC
from sb3_iterative.iterative_sac.policies import CnnPolicy as IterativeCnnPolicy


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(ent_coef=0.05, n_steps=3, gradient_steps=2),
    ],
)
def test_direct_actor_reproduces_sac(options: dict) -> None:
    common = dict(seed=3, learning_starts=100, batch_size=64, device="cpu", **options)
    sac = SAC("MlpPolicy", "Pendulum-v1", **common).learn(400)
    ours = IterativeSAC(
        "MlpPolicy", "Pendulum-v1", beta=1.0, policy_kwargs=dict(actor="direct", beta_collect=1.0), **common
    ).learn(400)

    assert ours._n_updates == sac._n_updates > 0
    sac_state, our_state = sac.policy.state_dict(), ours.policy.state_dict()
    assert sac_state.keys() == our_state.keys()
    for key in sac_state:
        assert th.equal(sac_state[key], our_state[key]), key
    if sac.log_ent_coef is not None:
        assert th.equal(sac.log_ent_coef, ours.log_ent_coef)
    assert (sac.replay_buffer.actions == ours.replay_buffer.actions).all()


def test_pessimism_breaks_the_equality() -> None:
    """The same comparison fails once β differs from 1: the test can tell the two apart."""
    common = dict(seed=3, learning_starts=100, batch_size=64, device="cpu")
    sac = SAC("MlpPolicy", "Pendulum-v1", **common).learn(200)
    ours = IterativeSAC("MlpPolicy", "Pendulum-v1", beta=2.5, policy_kwargs=dict(actor="direct"), **common).learn(200)
    assert not th.equal(sac.policy.state_dict()["critic.qf0.0.weight"], ours.policy.state_dict()["critic.qf0.0.weight"])


@pytest.mark.parametrize("share_features_extractor", [False, True])
def test_direct_cnn_policy_starts_from_sacs_weights(share_features_extractor: bool) -> None:
    """With a CNN features extractor the direct actor and the critics are SAC's, weight for weight, from the same seed:
    building the actor draws no more random numbers than SAC's does (a features extractor made and dropped would)."""
    image, action = spaces.Box(0, 255, (3, 36, 36), dtype="uint8"), spaces.Box(-1, 1, (2,))
    kwargs = dict(net_arch=[8], share_features_extractor=share_features_extractor)
    th.manual_seed(0)
    sac = CnnPolicy(image, action, lambda _: 1e-3, **kwargs).state_dict()
    th.manual_seed(0)
    ours = IterativeCnnPolicy(image, action, lambda _: 1e-3, actor="direct", **kwargs).state_dict()
    assert sac.keys() == ours.keys()
    for key in sac:
        assert th.equal(sac[key], ours[key]), key
