"""What the iterative optimizer can see: ``input_normalization`` and reflections of an action axis.

Reflecting action axis i (a_i → −a_i) maps µ_i → −µ_i and ∇_{µ_i} J → −∇_{µ_i} J and leaves log σ and
∇_{log σ} J as they are. An optimizer that treats the axes alike must map its inputs and its result the same
way: on the mirrored objective, from the mirrored start, with f_φ's weights mirrored, it must end at the mirrored
λ. The paper's layer norm across action dimensions does not (it sees only x₁ − x₂ with two dimensions); symlog
does.
"""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from torch import nn

from sb3_iterative import IterativeSACPolicy
from sb3_iterative.common.iterative_actor import IterativeActor
from sb3_iterative.objective import QuadraticPull, autograd_value_gradient

OBSERVATION_SPACE = spaces.Box(-1, 1, (2,), dtype=np.float32)
BATCH = 8


def make_actor(action_dim: int, **options) -> IterativeActor:
    action_space = spaces.Box(-1, 1, (action_dim,), dtype=np.float32)
    policy = IterativeSACPolicy(OBSERVATION_SPACE, action_space, lambda _: 1e-3, net_arch=[32, 32], **options)
    actor = policy.actor
    for parameter in actor.parameters():  # weights as training leaves them, not the zero-initialised heads
        nn.init.normal_(parameter, std=0.5)
    return actor


def reflect_blocks(blocks: th.Tensor, axis: int) -> th.Tensor:
    """[B, 4, A] blocks (µ, log σ, ∇_µ J, ∇_{log σ} J) with action axis ``axis`` reflected."""
    sign = th.ones(4, blocks.shape[-1])
    sign[0, axis] = sign[2, axis] = -1
    return blocks * sign


def mirrored_actor(actor: IterativeActor, axis: int) -> IterativeActor:
    """f_φ with action axis ``axis`` reflected: its inputs µ_i, ∇_{µ_i} J (and ∇_{µ_i} J's sign, with
    ``gradient_magnitude``) enter with the opposite sign and its update δ_{µ_i} leaves with the opposite sign."""
    mirrored = make_actor(actor.action_dim, **actor.options.as_dict())
    mirrored.load_state_dict(actor.state_dict())
    dim, first = actor.action_dim, actor.features_dim
    columns = [first + axis, first + 2 * dim + axis]
    if actor.options.gradient_magnitude:  # [log|∇_µ J|, log|∇_{log σ} J|, sign ∇_µ J, sign ∇_{log σ} J]
        columns.append(first + 4 * dim + 2 * dim + axis)
    with th.no_grad():
        mirrored.latent_pi[0].weight[:, columns] *= -1
        mirrored.update_and_gate.weight[axis] *= -1  # δ_µ first, then δ_{log σ} and the gates
        mirrored.update_and_gate.bias[axis] *= -1
    return mirrored


class LopsidedValue:
    """A value of the actions with no symmetry of its own (each state with its own optimum), and its mirror image
    Q'(a) = Q(Ra) across action axis ``axis``."""

    def __init__(self, action_dim: int, mirror_axis: int | None = None):
        generator = th.Generator().manual_seed(1)
        self.centres = th.rand(BATCH, action_dim, generator=generator) - 0.5
        self.tilt = th.randn(action_dim, generator=generator)
        self.sign = th.ones(action_dim)
        if mirror_axis is not None:
            self.sign[mirror_axis] = -1

    def value(self, actions: th.Tensor, beta: float) -> th.Tensor:
        actions = actions * self.sign
        return -(actions - self.centres).pow(2).sum(dim=-1) + th.sin(3 * actions) @ self.tilt

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        return autograd_value_gradient(self, actions, beta)


def test_symlog_inputs_commute_with_reflecting_an_action_axis_and_the_layer_norm_inputs_do_not():
    th.manual_seed(0)
    for action_dim in (2, 3, 6):
        blocks = th.randn(BATCH, 4, action_dim) * 3 + 0.5
        for normalization, commutes in (("symlog", True), ("layer", False)):
            actor = make_actor(action_dim, input_normalization=normalization)
            for axis in range(action_dim):
                reflected = actor.normalize_inputs(reflect_blocks(blocks, axis))
                expected = reflect_blocks(actor.normalize_inputs(blocks), axis)
                assert th.allclose(reflected, expected, atol=1e-6) == commutes, (normalization, action_dim, axis)


def test_the_paper_normalization_leaves_two_dimensions_only_a_sign_and_symlog_keeps_mean_and_scale():
    blocks = th.tensor([[[0.3, 0.1], [2.0, 1.0], [5.0, 4.0], [-1.0, -1.0]]])  # µ, log σ, ∇_µ J, ∇_{log σ} J
    layer = make_actor(2).normalize_inputs(blocks)
    th.testing.assert_close(layer, th.tensor([[[1.0, -1.0], [1.0, -1.0], [1.0, -1.0], [0.0, 0.0]]]))
    moved = 4 * blocks + 7.0  # every dimension of every block moved together, and scaled: nothing the layer norm sees
    th.testing.assert_close(make_actor(2).normalize_inputs(moved), layer)
    symlog = make_actor(2, input_normalization="symlog")
    th.testing.assert_close(symlog.normalize_inputs(blocks), th.sign(blocks) * th.log1p(blocks.abs()))
    assert not th.allclose(symlog.normalize_inputs(moved), symlog.normalize_inputs(blocks))


@pytest.mark.parametrize("options", [{}, dict(gradient_magnitude=True), dict(residual_update=True)], ids=str)
@pytest.mark.parametrize("action_dim", [2, 3])
def test_the_optimizer_on_a_mirrored_objective_ends_at_the_mirrored_lambda_with_symlog_inputs_only(action_dim, options):
    axis = 1
    for normalization, equivariant in (("symlog", True), ("layer", False)):
        th.manual_seed(0)
        actor = make_actor(action_dim, input_normalization=normalization, **options)
        mirrored = mirrored_actor(actor, axis)
        obs = th.rand(BATCH, 2) * 2 - 1
        noise = actor.draw_noise(BATCH, None, False)
        mu_0 = th.randn(BATCH, action_dim) * 0.5
        log_std_0 = th.full_like(mu_0, -1.0)
        sign = th.ones(action_dim)
        sign[axis] = -1
        with th.no_grad():
            trace = actor.optimize(obs, LopsidedValue(action_dim), 0.1, 1.0, noise, initial=(mu_0, log_std_0))
            mirrored_trace = mirrored.optimize(
                obs, LopsidedValue(action_dim, axis), 0.1, 1.0, noise * sign, initial=(mu_0 * sign, log_std_0)
            )
        same_mu = th.allclose(mirrored_trace.mu, trace.mu * sign, atol=1e-5)
        same_log_std = th.allclose(mirrored_trace.log_std, trace.log_std, atol=1e-5)
        assert (same_mu and same_log_std) == equivariant, normalization
        assert not th.allclose(trace.mu, mu_0, atol=1e-2)  # the optimizer moved λ


def test_one_action_dimension_reads_symlog_under_either_name():
    blocks = th.randn(BATCH, 4, 1) * 4
    layer, symlog = (
        make_actor(1).normalize_inputs(blocks),
        make_actor(1, input_normalization="symlog").normalize_inputs(blocks),
    )
    assert th.equal(layer, symlog)


def test_bad_input_normalization_and_perturbation():
    for options, match in (
        (dict(input_normalization="rms"), "input_normalization must be one of 'layer', 'symlog', got 'rms'"),
        (dict(objective_perturbation=-1.0), "objective_perturbation must be a finite number >= 0"),
        (dict(objective_perturbation=float("inf")), "objective_perturbation must be a finite number >= 0"),
        (dict(input_normalization="symlog", actor="direct"), "input_normalization applies to the iterative actor only"),
        (dict(objective_perturbation=4.0, actor="flow"), "objective_perturbation applies to the iterative actor only"),
    ):
        with pytest.raises(ValueError, match=match):
            make_actor(2, **options)


def test_a_quadratic_pull_adds_its_value_and_its_gradient_per_state():
    th.manual_seed(0)
    base = LopsidedValue(3)
    target, strength = th.rand(BATCH, 3) * 2 - 1, th.rand(BATCH) * 4
    pulled = QuadraticPull(base, target, strength)
    actions = th.rand(5, BATCH, 3) * 2 - 1
    value, gradient = pulled.value_and_action_gradient(actions, 1.0)
    expected_value, expected_gradient = autograd_value_gradient(pulled, actions, 1.0)
    th.testing.assert_close(value, expected_value)
    th.testing.assert_close(gradient, expected_gradient)
    th.testing.assert_close(value, base.value(actions, 1.0) - strength * (actions - target).pow(2).sum(-1))
