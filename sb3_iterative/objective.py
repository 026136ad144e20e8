"""The policy objective J(s, λ) (paper Eq. 8 and 13), written once for the whole package.

    J(s, λ) = E_{a ~ π(·|s; λ)} [ Q̂_β(s, a) ]  −  α · E_{a ~ π(·|s; λ)} [ log π(a|s; λ) ]

π is a tanh-squashed diagonal Gaussian, u ~ N(µ, σ²), a = tanh(u), with λ = (µ, log σ)
taken before the tanh (or, for the flow-policy baseline, that Gaussian pushed through a flow before
the tanh: :mod:`sb3_iterative.distributions` holds both families). The prior p(a|s) is uniform on
[−1, 1]^|A|, so −α·KL(π‖p) is α·H(π) up to a constant, estimated with the same reparameterised
samples as the Q term (the path-wise estimator). Q̂_β is the pessimistic estimate over the critic ensemble
(mean − β·std, or TQC's truncation for quantile critics: :mod:`sb3_iterative.pessimism`).

The iterative actor's inputs and loss, the direct actor's loss, the critic's target and the
analyses all call :func:`objective` or :func:`objective_gradient`; nothing else computes J.

Q̂_β comes from a :class:`ValueEstimate`: the value inside J, with the state already bound. The
policy builds it (``IterativePolicy.value_estimate``, from its value estimator), one place for every caller. Two kinds
implement it: the critic ensemble (:class:`EnsembleValue`; :class:`sb3_iterative.critics.EnsembleQ`
for SB3 critics, with a fast hand-written action gradient), and the model-based estimate
(:class:`sb3_iterative.model_based.estimator.ModelBasedValue`: a short model rollout combined with the
critics by Retrace, paper Eq. 14–16).

Shapes: observations' features [B, F]; λ = (µ, log σ), each [B, A]; noise and actions
[N, B, A] (N = ``n_action_samples``); Q values [N, B, n_critics] ([N, B, n_critics · n_quantiles] for
quantile critics); Q̂_β [N, B]; J [B].

The noise plan (:func:`noise_plan`): every ε behind an estimate of J comes from one function, [E, N, B, A]:
E estimates (in training K + 1: the K of ∇_λ J in one optimization and the one at λ_K, for the actor's step and
the critic target's each; in acting K; in the analyses and their baseline optimizers 1 per evaluation; inside a
model rollout, its h steps' actions), N reparameterised samples, B states, A action dimensions. Deterministic
acting shares one state's ε across the batch (``shared``), so that a state's action does not depend on the rest
of the batch.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch as th

from sb3_iterative.distributions import (
    TANH_EPSILON,
    TANH_GAUSSIAN,
    PolicyDistribution,
    TanhGaussian,
    squashed_gaussian_log_prob,
)
from sb3_iterative.pessimism import EnsembleStd, Pessimism

# The members' outputs as a function of the actions alone (the state is already bound):
# [N, B, A] -> [N, B, n_outputs]
QFunction = Callable[[th.Tensor], th.Tensor]
# The paper's mean − β·std, for an ensemble of any size
ENSEMBLE_STD = EnsembleStd()


def noise_plan(
    n_estimates: int,
    n_samples: int,
    batch_size: int,
    action_dim: int,
    generator: th.Generator | None = None,
    shared: bool = False,
    device: th.device | str = "cpu",
) -> th.Tensor:
    """Standard normal ε for ``n_estimates`` estimates of J on a batch [E, N, B, A] (the module's noise plan).

    :param generator: the random generator (None: torch's global one)
    :param shared: one state's ε for every state of the batch (expanded, not copied)
    """
    shape = (n_estimates, n_samples, 1 if shared else batch_size, action_dim)
    noise = th.randn(shape, generator=generator, device=device)
    return noise.expand(-1, -1, batch_size, -1) if shared else noise


def sample_mean(x: th.Tensor) -> th.Tensor:
    """The mean over the N samples [N, ...] -> [...]; with one sample, the sample itself (the same
    numbers, without the cost of a reduction at acting sizes)."""
    return x[0] if x.shape[0] == 1 else x.mean(dim=0)


def autograd_action_gradient(
    q_function: QFunction, actions: th.Tensor, beta: float, pessimism: Pessimism = ENSEMBLE_STD
) -> tuple[th.Tensor, th.Tensor]:
    """Q values [N, B, n_outputs] and ∂Q̂_β/∂a [N, B, A] by autograd, for any differentiable Q function."""
    with th.enable_grad():
        actions = actions.detach().requires_grad_(True)
        q_values = q_function(actions)
        (grad,) = th.autograd.grad(pessimism.value(q_values, beta).sum(), actions)
    return q_values.detach(), grad


class ValueEstimate(Protocol):
    """Q̂_β(s, a), the value inside J, for a batch of B states bound in: a function of the actions.

    ``value`` is differentiable in the actions (the direct actor's loss backpropagates through it);
    ``value_and_action_gradient`` gives Q̂_β and ∂Q̂_β/∂a [N, B, A] with no graph left behind. Neither
    moves a gradient into the parameters behind the estimate except through ``value``'s graph.
    """

    def value(self, actions: th.Tensor, beta: float) -> th.Tensor:
        """Q̂_β [N, B] of actions [N, B, A]."""
        ...

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        """Q̂_β [N, B] and ∂Q̂_β/∂a [N, B, A]."""
        ...


@runtime_checkable
class ReadiesForCompiled(Protocol):
    """A value estimate that readies itself before a compiled region calls it (compiled acting)."""

    def before_compiled(self, n_calls: int, n_samples: int, batch_size: int, action_dim: int) -> None:
        """Called before a compiled region calls the estimate ``n_calls`` times with actions [N, B, A]."""
        ...


def autograd_value_gradient(estimate: ValueEstimate, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
    """Q̂_β [N, B] and ∂Q̂_β/∂a [N, B, A] of any value estimate, by autograd (the gradient w.r.t. actions only)."""
    with th.enable_grad():
        actions = actions.detach().requires_grad_(True)
        value = estimate.value(actions, beta)
        (grad,) = th.autograd.grad(value.sum(), actions)
    return value.detach(), grad


class EnsembleValue:
    """Q̂_β of an ensemble's outputs, mean − β·std over its members by default (Eq. 13), as a :class:`ValueEstimate`.

    :param q_values: the members' outputs as a function of the actions [N, B, A] -> [N, B, n_outputs]
    :param pessimism: how the outputs become Q̂_β (:mod:`sb3_iterative.pessimism`)
    """

    def __init__(self, q_values: QFunction, pessimism: Pessimism = ENSEMBLE_STD):
        self.q_values = q_values
        self.pessimism = pessimism

    def __call__(self, actions: th.Tensor) -> th.Tensor:
        """The members' Q values [N, B, n_critics]."""
        return self.q_values(actions)

    def value(self, actions: th.Tensor, beta: float) -> th.Tensor:
        return self.pessimism.value(self(actions), beta)

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        return autograd_value_gradient(self, actions, beta)


class QuadraticPull:
    """Q̂_β(s, a) − c·‖a − a*‖², a pull of each state's actions towards its own a* with its own strength c, as a
    :class:`ValueEstimate` (its gradient is the estimate's plus the pull's, written out). Training on such perturbed
    objectives (``objective_perturbation``) gives the optimizer a reason to read ∇_λ J.

    :param value_estimate: Q̂_β bound to B states
    :param target: a* per state [B, A], in the policy's action space [−1, 1]^|A|
    :param strength: c per state [B]
    """

    def __init__(self, value_estimate: ValueEstimate, target: th.Tensor, strength: th.Tensor):
        self.value_estimate = value_estimate
        self.target = target
        self.strength = strength

    @classmethod
    def random(
        cls, value_estimate: ValueEstimate, batch_size: int, action_dim: int, max_strength: float, device: th.device
    ) -> "QuadraticPull":
        """a* ~ U(−1, 1)^|A| and c ~ U(0, ``max_strength``) per state, from torch's global generator."""
        target = th.rand(batch_size, action_dim, device=device).mul_(2).sub_(1)
        strength = th.rand(batch_size, device=device).mul_(max_strength)
        return cls(value_estimate, target, strength)

    def value(self, actions: th.Tensor, beta: float) -> th.Tensor:
        return self.value_estimate.value(actions, beta) - self.strength * (actions - self.target).pow(2).sum(dim=-1)

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        value, gradient = self.value_estimate.value_and_action_gradient(actions, beta)
        offset = actions - self.target
        pull = self.strength * offset.pow(2).sum(dim=-1)
        return value - pull, gradient - 2 * self.strength.unsqueeze(-1) * offset


@dataclass
class ObjectiveEstimate:
    """A Monte Carlo estimate of J(s, λ) and, when asked for, its gradient with respect to λ."""

    value: th.Tensor  # J [B]
    actions: th.Tensor  # the samples a = tanh(µ + σ·ε) [N, B, A]
    log_prob: th.Tensor  # log π(a|s; λ) of the samples [N, B]
    grad_mu: th.Tensor | None = None  # ∇_µ J [B, A]
    grad_log_std: th.Tensor | None = None  # ∇_{log σ} J [B, A]
    terms: th.Tensor | None = None  # J's term of each sample, Q̂_β(s, a) − α·log π(a|s; λ) [N, B]: J is their mean

    @property
    def gradient(self) -> tuple[th.Tensor, th.Tensor]:
        """(∇_µ J, ∇_{log σ} J); only for an estimate made by :func:`objective_gradient`."""
        if self.grad_mu is None or self.grad_log_std is None:
            raise ValueError("this estimate of J has no gradient: it was made by objective(), not objective_gradient()")
        return self.grad_mu, self.grad_log_std


def objective(
    value_estimate: ValueEstimate,
    mu: th.Tensor,
    log_std: th.Tensor,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
    distribution: PolicyDistribution = TANH_GAUSSIAN,
) -> ObjectiveEstimate:
    """J(s, λ) estimated with the reparameterised samples of λ and ε = ``noise`` (a = tanh(µ + σ·ε) for SAC's family).

    :param value_estimate: Q̂_β bound to the observations (``policy.value_estimate(obs, ...)``)
    :param mu: µ [B, A]
    :param log_std: log σ [B, A]
    :param noise: standard normal ε [N, B, A]
    :param ent_coef: the entropy coefficient α
    :param beta: the pessimism β of Q̂_β
    :param distribution: the policy's family, bound to the observations (a flow policy's ``TanhFlow``)
    :return: J per state and the samples behind it
    """
    actions, log_prob = distribution.sample(mu, log_std, noise)
    return sampled_objective(value_estimate, actions, log_prob, ent_coef, beta)


def sampled_objective(
    value_estimate: ValueEstimate, actions: th.Tensor, log_prob: th.Tensor, ent_coef: th.Tensor | float, beta: float
) -> ObjectiveEstimate:
    """J(s, λ) on samples of π(·|s; λ) already drawn: actions [N, B, A] and their log π [N, B] (the critic's target
    draws a' once, for its value and for CrossQ's joint pass)."""
    terms = value_estimate.value(actions, beta) - ent_coef * log_prob
    return ObjectiveEstimate(value=terms.mean(dim=0), actions=actions, log_prob=log_prob, terms=terms)


def objective_gradient(
    value_estimate: ValueEstimate,
    mu: th.Tensor,
    log_std: th.Tensor,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
    with_value: bool = True,
    distribution: PolicyDistribution = TANH_GAUSSIAN,
) -> ObjectiveEstimate:
    """J(s, λ) as :func:`objective` estimates it, and ∇_λ J, with no autograd graph left behind.

    For SAC's family the gradient is the chain rule through the same samples: with u = µ + σ·ε, a = tanh(u)::

        ∂J/∂u = ∂Q̂/∂a · (1 − a²) − α · ∂log π/∂u,   ∂log π/∂u = 2a(1 − a²)/(1 − a² + 1e−6),
        ∇_µ J = mean_N ∂J/∂u,   ∇_{log σ} J = mean_N (∂J/∂u · σε) + α

    (the Gaussian part of −log π is −ε²/2 − log σ − const under reparameterisation).
    ∂Q̂/∂a comes from the value estimate (hand-written for MLP critic ensembles, else autograd).
    Another family (a flow) is differentiated by autograd through :func:`objective`, λ being its base (µ, log σ).
    No gradient reaches the critic's or the actor's parameters; works under ``torch.no_grad()``.
    With ``with_value=False`` (acting: only ∇_λ J is needed) J and log π are left out (NaN).
    """
    if not isinstance(distribution, TanhGaussian):
        return autograd_objective_gradient(value_estimate, mu, log_std, noise, ent_coef, beta, distribution)
    with th.no_grad():
        std, gaussian_actions, actions = distribution.reparameterize(mu, log_std, noise)
        q_hat, grad_actions = value_estimate.value_and_action_gradient(actions, beta)
        if with_value:
            log_prob = squashed_gaussian_log_prob(mu, std, gaussian_actions, actions)
            value = (q_hat - ent_coef * log_prob).mean(dim=0)
        else:
            log_prob = value = actions.new_full((), math.nan)  # an estimate made for its gradient alone

        tanh_derivative = 1 - actions * actions
        grad_log_prob = (actions + actions) * tanh_derivative / (tanh_derivative + TANH_EPSILON)
        grad_gaussian = grad_actions * tanh_derivative - ent_coef * grad_log_prob  # ∂J/∂u [N, B, A]
        grad_mu = sample_mean(grad_gaussian)
        grad_log_std = sample_mean(grad_gaussian * noise * std) + ent_coef
    return ObjectiveEstimate(
        value=value,
        actions=actions,
        log_prob=log_prob,
        grad_mu=grad_mu,
        grad_log_std=grad_log_std,
    )


def autograd_objective_gradient(
    value_estimate: ValueEstimate,
    mu: th.Tensor,
    log_std: th.Tensor,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
    distribution: PolicyDistribution,
) -> ObjectiveEstimate:
    """J and ∇_λ J of :func:`objective` by autograd, with respect to λ = (µ, log σ) alone."""
    with th.enable_grad():
        mu, log_std = mu.detach().requires_grad_(True), log_std.detach().requires_grad_(True)
        estimate = objective(value_estimate, mu, log_std, noise, ent_coef, beta, distribution)
        grad_mu, grad_log_std = th.autograd.grad(estimate.value.sum(), [mu, log_std])
    return ObjectiveEstimate(
        value=estimate.value.detach(),
        actions=estimate.actions.detach(),
        log_prob=estimate.log_prob.detach(),
        grad_mu=grad_mu,
        grad_log_std=grad_log_std,
    )
