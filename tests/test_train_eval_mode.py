"""The networks' modes, for every algorithm (in the shape of sb3-contrib's test_train_eval_mode, over
``MODEL_LIST``): ``policy.set_training_mode(False)`` puts every module in evaluation mode, batch normalization and
dropout included; acting and collecting leave the running statistics alone; train() switches back to training mode,
and the target critics' running statistics follow the critics'.

Each network reads its observations through batch normalization and dropout (as sb3-contrib's tests do); CrossQ's
networks add their own batch renormalization. The warm start adds the distilled policy, so that every network a
policy can have is there."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib.common.torch_layers import BatchRenorm
from stable_baselines3.common.preprocessing import get_flattened_obs_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

from sb3_iterative import IterativeCrossQ

from helpers import MODEL_LIST, POLICY_KWARGS, make_model, observations


class FlattenBatchNormDropoutExtractor(BaseFeaturesExtractor):
    """Flattened observations through batch normalization and dropout: a network whose output depends on its mode."""

    def __init__(self, observation_space: gym.Space):
        super().__init__(observation_space, get_flattened_obs_dim(observation_space))
        self.flatten = nn.Flatten()
        self.batch_norm = nn.BatchNorm1d(self._features_dim)
        self.dropout = nn.Dropout(0.5)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.dropout(self.batch_norm(self.flatten(observations)))


NORMALIZED = dict(features_extractor_class=FlattenBatchNormDropoutExtractor, warm_start=True)


def running_statistics(model) -> dict[str, th.Tensor]:
    """The policy's buffers (batch normalization's running mean and variance, batch renormalization's, step counters)."""
    return {name: buffer.clone() for name, buffer in model.policy.named_buffers()}


def moved(before: dict[str, th.Tensor], after: dict[str, th.Tensor]) -> set[str]:
    return {name for name, value in before.items() if not th.equal(value, after[name])}


def in_training_mode(model) -> set[str]:
    return {name for name, module in model.policy.named_modules() if module.training}


def trained_modules(model) -> set[str]:
    """What training mode reaches: every module of the policy but the target critics (always in evaluation mode, as
    SB3's)."""
    return {name for name, _ in model.policy.named_modules() if not name.startswith("critic_target")}


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_evaluation_mode_reaches_every_module(algorithm):
    model = make_model(algorithm, **NORMALIZED)
    modules = list(model.policy.modules())
    assert any(isinstance(module, nn.BatchNorm1d) for module in modules)
    assert any(isinstance(module, nn.Dropout) for module in modules)
    assert any(isinstance(module, BatchRenorm) for module in modules) == (algorithm is IterativeCrossQ)
    assert model.policy.distilled_policy is not None
    model.policy.set_training_mode(False)
    assert in_training_mode(model) == set()
    model.policy.set_training_mode(True)
    assert in_training_mode(model) == trained_modules(model)


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_acting_leaves_the_running_statistics_alone(algorithm):
    """predict puts the policy in evaluation mode: dropout is off (the same deterministic action every time) and the
    running statistics do not move, whatever mode the policy was in."""
    model = make_model(algorithm, **NORMALIZED).learn(100)
    model.policy.set_training_mode(True)
    before = running_statistics(model)
    obs = observations(model)
    first, _ = model.predict(obs, deterministic=True)
    assert in_training_mode(model) == set()
    for _ in range(5):
        np.testing.assert_array_equal(model.predict(obs, deterministic=True)[0], first)
    model.predict(obs, deterministic=False)
    assert moved(before, running_statistics(model)) == set()


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_collecting_leaves_the_running_statistics_alone(algorithm):
    model = algorithm(
        "MlpPolicy", "Pendulum-v1", learning_starts=10, gradient_steps=0, train_freq=1, seed=1, device="cpu",
        policy_kwargs={**POLICY_KWARGS[algorithm], **NORMALIZED},
    )  # fmt: skip
    before = running_statistics(model)
    model.learn(100)
    assert model._n_updates == 0
    assert moved(before, running_statistics(model)) == set()


@pytest.mark.parametrize("algorithm", MODEL_LIST)
def test_train_switches_to_training_mode(algorithm, monkeypatch):
    """train() puts every network but the target critics in training mode for its gradient steps, whatever mode
    acting left: their running statistics move; the target critics' are copied from the critics' (SB3 GH issue
    #996)."""
    model = make_model(algorithm, **NORMALIZED).learn(50)  # the buffer, no training yet
    model.policy.set_training_mode(False)
    before = running_statistics(model)
    modes = []
    gradient_step = model._gradient_step
    monkeypatch.setattr(model, "_gradient_step", lambda *args: modes.append(in_training_mode(model)) or gradient_step(*args))
    model.train(3, batch_size=32)  # three steps: CrossQ's actor trains on the third (policy_delay 3)
    assert modes == [trained_modules(model)] * 3
    after = running_statistics(model)
    statistics = {name for name in before if name.endswith(("running_mean", "ra_mean"))}
    assert {name for name in statistics if not name.startswith("critic_target")} <= moved(before, after)
    for name in statistics:
        if name.startswith("critic_target."):
            assert th.equal(after[name], after[name.replace("critic_target.", "critic.", 1)]), name
