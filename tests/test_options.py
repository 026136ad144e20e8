"""The iterative optimizer's settings, declared once (sb3_iterative/common/options.py): defaults, checks, the
actors they apply to, and how the policy saves them and hands them to its actor."""

import dataclasses

import pytest

from sb3_iterative import IterativeSAC
from sb3_iterative.common.amortizers import amortizer_class
from sb3_iterative.common.options import IterativeOptions

from helpers import SMALL


def test_every_setting_is_documented_where_it_is_declared_with_the_papers_defaults():
    options = IterativeOptions()
    assert (options.n_iterations, options.n_action_samples, options.init_std, options.init_mu_std) == (5, 1, 0.5, 0.0)
    assert not (options.gradient_magnitude or options.residual_update or options.warm_start)
    for name in IterativeOptions.names():
        assert f":param {name}:" in (IterativeOptions.__doc__ or ""), name
    assert set(IterativeOptions.ITERATIVE_ONLY) < set(IterativeOptions.names())


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(n_iterations=0), "n_iterations must be an integer >= 1, got 0"),
        (dict(n_iterations=2.0), "n_iterations must be an integer >= 1"),
        (dict(n_action_samples=True), "n_action_samples must be an integer >= 1"),
        (dict(init_std=0.0), "init_std must be a finite number > 0"),
        (dict(init_mu_std=float("inf")), "init_mu_std must be a finite number >= 0"),
        (dict(residual_update=1), "residual_update must be True or False, got 1"),
        (dict(warm_start=True, init_mu_std=0.3), "with warm_start, λ_0 is the distilled policy's"),
    ],
)
def test_bad_settings_are_refused_when_made_and_when_replaced(changes, match):
    with pytest.raises(ValueError, match=match):
        IterativeOptions(**changes)
    with pytest.raises(ValueError, match=match):
        IterativeOptions().replace(**changes)


def test_warm_start_allows_zero_iterations_and_numbers_are_floats():
    options = IterativeOptions(warm_start=True, n_iterations=0, init_std=1)
    assert options.n_iterations == 0 and isinstance(options.init_std, float)


@pytest.mark.parametrize("actor", ["direct", "flow"])
def test_settings_of_the_iterative_actor_are_refused_with_another(actor):
    check = amortizer_class(actor).check_keywords
    check(IterativeOptions(n_action_samples=4, n_iterations=3).as_dict())  # J's N, and K unused: accepted
    for name in IterativeOptions.ITERATIVE_ONLY:
        value = {"init_mu_std": 0.3, "objective_perturbation": 4.0, "input_normalization": "symlog"}.get(name, True)
        with pytest.raises(ValueError, match=f"{name} applies to the iterative actor only \\(this policy has actor='{actor}'"):
            check(IterativeOptions(**{name: value}).as_dict())
    with pytest.raises(ValueError, match=f"n_iterations applies to the iterative actor only .this policy has actor='{actor}"):
        check(dict(n_iterations=3), changing=True)  # K changed on a built policy


def test_split_takes_the_settings_from_a_policys_keywords():
    options, rest = IterativeOptions.split(dict(n_iterations=3, residual_update=True, net_arch=[8], n_critics=2))
    assert options == IterativeOptions(n_iterations=3, residual_update=True)
    assert rest == dict(net_arch=[8], n_critics=2)


def test_the_policy_saves_its_settings_and_its_actor_reads_the_same_object(tmp_path):
    """The settings travel as one object: the policy's constructor parameters hold each of them (the model and the
    policy save those), the actor reads the policy's object, and a setting changed after training reaches both and
    survives save and load."""
    model = IterativeSAC("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(net_arch=[16], n_iterations=3), **SMALL)
    policy = model.policy
    assert policy.actor.options is policy.options
    saved = policy._get_constructor_parameters()
    assert {name: saved[name] for name in IterativeOptions.names()} == dataclasses.asdict(policy.options)
    policy.n_iterations = 7
    assert policy.actor.options is policy.options and policy.options.n_iterations == 7
    with pytest.raises(ValueError, match="n_iterations must be an integer >= 1"):
        policy.n_iterations = 0
    assert policy.options.n_iterations == 7  # a refused change leaves the settings as they were
    model.save(tmp_path / "model.zip")
    loaded = IterativeSAC.load(tmp_path / "model.zip")
    assert loaded.policy.options == policy.options and loaded.policy.actor.options is loaded.policy.options
