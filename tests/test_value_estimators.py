"""The value estimator as a component (sb3_iterative/value_estimators.py): the registry, and a kind registered
from outside the package that trains, logs, saves and loads through the seams alone."""

from typing import ClassVar

import pytest
import torch as th
from gymnasium import spaces
from torch import nn

from sb3_iterative import IterativeSAC
from sb3_iterative.common.amortizers import FlowAmortizer, IterativeAmortizer
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.model_based import ModelValueEstimator
from sb3_iterative.value_estimators import (
    VALUE_ESTIMATORS,
    CriticValueEstimator,
    ValueEstimator,
    register_value_estimator,
    value_estimator_class,
)

from helpers import SMALL, recording_logger, short_pendulum


class ScaledCritics(ValueEstimator):
    """c · Q̂_β with a learned c, fitted towards 1 by its own optimizer: parameters, an optimizer, a training step
    with a log, a policy option of its own with a default (c's start)."""

    kind = "scaled_critics"
    policy_options: ClassVar = {"initial_scale": 3.0}

    def __init__(self, initial_scale=3.0):
        super().__init__()
        self.scale = nn.Parameter(th.tensor(float(initial_scale)))
        self.fits = 0

    @classmethod
    def make(cls, observation_space, action_space, options, make_optimizer, device="cpu"):
        component = cls(options["initial_scale"]).to(device)
        component.optimizer = make_optimizer(component.parameters())
        return component

    optimizer_names = ("optimizer",)

    def build(
        self, obs, critic, pessimism, ent_coef, direct_policy=None, generator=None, shared_noise=False, common_noise=False
    ):
        return Scaled(EnsembleQ(critic, obs, pessimism), self.scale.detach())

    def fit(self, replay_data):
        self.fits += 1
        loss = (self.scale - 1) ** 2
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"model_state_loss": loss.detach()}


class Scaled:
    def __init__(self, estimate, scale):
        self.estimate, self.scale = estimate, scale

    def value(self, actions, beta):
        return self.scale * self.estimate.value(actions, beta)

    def value_and_action_gradient(self, actions, beta):
        value, gradient = self.estimate.value_and_action_gradient(actions, beta)
        return self.scale * value, self.scale * gradient


@pytest.fixture
def scaled_critics():
    register_value_estimator(ScaledCritics)
    yield ScaledCritics
    del VALUE_ESTIMATORS[ScaledCritics.kind]


def test_registry_holds_the_two_kinds_of_the_package():
    assert VALUE_ESTIMATORS == {"critic": CriticValueEstimator, "model": ModelValueEstimator}
    assert value_estimator_class("model") is ModelValueEstimator


@pytest.mark.parametrize("kind", ["models", None, 2])
def test_unknown_kind_is_refused_with_the_kinds(kind):
    with pytest.raises(ValueError, match=r"value_estimator must be one of \('critic', 'model'\)"):
        value_estimator_class(kind)
    with pytest.raises(ValueError, match="value_estimator must be one of"):
        IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(value_estimator=kind))


def test_a_kind_registered_twice_under_one_name_is_refused(scaled_critics):
    clash = type("Clash", (CriticValueEstimator,), {"kind": "scaled_critics"})
    with pytest.raises(ValueError, match="registered already"):
        register_value_estimator(clash)


def test_a_registered_kind_trains_logs_saves_and_loads(tmp_path, scaled_critics):
    model = IterativeSAC(
        "MlpPolicy",
        short_pendulum(),
        **SMALL,
        seed=0,
        policy_kwargs=dict(net_arch=[32, 32], value_estimator="scaled_critics"),
    )
    component = model.policy.estimator
    assert isinstance(component, ScaledCritics) and model.policy.initial_scale == 3.0  # its option's default
    recorder = recording_logger(model)
    model.learn(100, log_interval=1)
    assert component.fits == model._n_updates == 50  # its own step, once per gradient step
    assert 1 < component.scale.item() < 3  # its optimizer moved its parameter
    assert all(0 < loss < 4 for loss in recorder.values["train/model_state_loss"])  # what its step logs

    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.policy.estimator.scale.item() == component.scale.item()  # saved with the policy
    saved, restored = (m.policy.estimator.optimizer.state_dict()["state"][0]["exp_avg"] for m in (model, loaded))
    assert th.equal(saved, restored)  # its optimizer saved under its name


def test_a_registered_kind_declares_its_own_policy_option(tmp_path, scaled_critics):
    """A kind's own option is a policy keyword because the kind declares it: given, saved, and refused with another
    kind, naming the kind it applies to; unknown once the kind is gone."""
    kwargs = dict(net_arch=[32, 32], value_estimator="scaled_critics", initial_scale=2.5)
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=kwargs)
    assert model.policy.estimator.scale.item() == 2.5 and model.policy.initial_scale == 2.5
    assert IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(value_estimator="model")).policy.initial_scale is None
    model.save(tmp_path / "model.zip")
    assert IterativeSAC.load(tmp_path / "model.zip").policy.initial_scale == 2.5
    with pytest.raises(ValueError, match=r"initial_scale applies to value_estimator='scaled_critics' only"):
        IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(initial_scale=2.0))
    del VALUE_ESTIMATORS[ScaledCritics.kind]
    try:
        with pytest.raises(TypeError, match=r"got an unexpected keyword argument 'initial_scale'"):
            IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(initial_scale=2.0))
    finally:
        register_value_estimator(ScaledCritics)


def test_an_option_of_another_kind_is_refused_naming_its_kind():
    with pytest.raises(ValueError, match=r"retrace_lambda applies to value_estimator='model' only"):
        IterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(retrace_lambda=0.5))
    with pytest.raises(ValueError, match=r"model_based_target applies to value_estimator='model' only"):
        IterativeSAC("MlpPolicy", "Pendulum-v1", model_based_target=False)


def test_check_options_fills_defaults_and_checks():
    box = spaces.Box(-1, 1, (3,))
    options = ModelValueEstimator.check_options(dict(rollout_horizon=None, retrace_lambda=1), IterativeAmortizer, False, box)
    assert options == {"rollout_horizon": 2, "retrace_lambda": 1.0}
    with pytest.raises(ValueError, match="needs flat vector observations"):
        ModelValueEstimator.check_options({}, IterativeAmortizer, False, spaces.Box(0, 255, (8, 8, 3)))
    assert CriticValueEstimator.check_options(dict(rollout_horizon=None), FlowAmortizer, True, box) == {}
