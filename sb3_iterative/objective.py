"""The policy objective J(s, λ) (paper Eq. 8 and 13), written once for the whole package.

    J(s, λ) = E_{a ~ π(·|s; λ)} [ Q̂_β(s, a) ]  −  α · E_{a ~ π(·|s; λ)} [ log π(a|s; λ) ]

π is a tanh-squashed diagonal Gaussian, u ~ N(µ, σ²), a = tanh(u), with λ = (µ, log σ)
taken before the tanh. The prior p(a|s) is uniform on [−1, 1]^|A|, so −α·KL(π‖p) is α·H(π)
up to a constant, estimated with the same reparameterised samples as the Q term (the
path-wise estimator). Q̂_β is the pessimistic estimate over the critic ensemble.

The iterative actor's inputs and loss, the direct actor's loss, the critic's target and the
analyses all call :func:`objective` or :func:`objective_gradient`; nothing else computes J.

Shapes: observations' features [B, F]; λ = (µ, log σ), each [B, A]; noise and actions
[N, B, A] (N = ``n_action_samples``); Q values [N, B, n_critics]; J [B].
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch as th
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs

# A Q function of the actions alone (the state is already bound): [N, B, A] -> [N, B, n_critics]
QFunction = Callable[[th.Tensor], th.Tensor]

# Keeps log(1 - tanh(u)^2) finite; SB3's SquashedDiagGaussianDistribution uses the same value.
TANH_EPSILON = 1e-6
# Below this ensemble variance the std is taken as exactly zero, where its gradient is undefined.
MIN_VARIANCE = 1e-12


def pessimistic_value(q_values: th.Tensor, beta: float) -> th.Tensor:
    """Q̂_β = mean_i Q_i − β · std_i Q_i over the last dimension (paper Eq. 13).

    The std is the population std (1/n Σ), as in the paper, so that β = 1 with two critics
    is min(Q_1, Q_2), SAC's clipped double Q. That case is computed as the min itself:
    equal in value and gradient, and bit for bit the number SB3's SAC computes.

    :param q_values: Q values of the ensemble, critics on the last dimension
    :param beta: pessimism β (0: the ensemble mean)
    :return: the estimate, with the last dimension removed
    """
    n_critics = q_values.shape[-1]
    if n_critics == 2 and beta == 1.0:
        return q_values.min(dim=-1).values
    mean = q_values.mean(dim=-1)
    if beta == 0.0:
        return mean
    variance = (q_values - mean.unsqueeze(-1)).pow(2).mean(dim=-1)
    return mean - beta * variance.clamp_min(MIN_VARIANCE).sqrt()


def ensemble_q_function(critic: ContinuousCritic, obs: PyTorchObs) -> QFunction:
    """Bind a critic ensemble to a batch of observations, extracting their features once.

    The features are a constant of J: the actor's gradients stop at the action.

    :param critic: an ensemble with ``features_extractor`` and ``q_networks`` (architecture A or B)
    :param obs: a batch of B observations
    :return: the ensemble's Q values as a function of actions [N, B, A]
    """
    with th.no_grad():
        features = critic.extract_features(obs, critic.features_extractor)

    def q_function(actions: th.Tensor) -> th.Tensor:
        n_samples, batch_size, _ = actions.shape
        # [N, B, F + A] flattened to [N·B, F + A]: the networks see an ordinary 2-D batch
        inputs = th.cat([features.expand(n_samples, batch_size, -1), actions], dim=-1)
        inputs = inputs.reshape(n_samples * batch_size, -1)
        q_values = th.cat([q_net(inputs) for q_net in critic.q_networks], dim=1)
        return q_values.reshape(n_samples, batch_size, -1)

    return q_function


def squashed_gaussian_log_prob(
    mu: th.Tensor, std: th.Tensor, gaussian_actions: th.Tensor, actions: th.Tensor
) -> th.Tensor:
    """log π(a|s; λ) of a = tanh(u), u ~ N(µ, σ²), summed over action dimensions.

    Written in the order of operations of ``torch.distributions.Normal.log_prob`` and SB3's
    ``SquashedDiagGaussianDistribution.log_prob``, so that ``actor="direct"`` reproduces SAC
    bit for bit.
    """
    gaussian = -((gaussian_actions - mu) ** 2) / (2 * std**2) - std.log() - math.log(math.sqrt(2 * math.pi))
    return gaussian.sum(dim=-1) - th.log(1 - actions**2 + TANH_EPSILON).sum(dim=-1)


@dataclass
class ObjectiveEstimate:
    """A Monte Carlo estimate of J(s, λ) and, when asked for, its gradient with respect to λ."""

    value: th.Tensor  # J [B]
    actions: th.Tensor  # the samples a = tanh(µ + σ·ε) [N, B, A]
    log_prob: th.Tensor  # log π(a|s; λ) of the samples [N, B]
    grad_mu: th.Tensor | None = None  # ∇_µ J [B, A]
    grad_log_std: th.Tensor | None = None  # ∇_{log σ} J [B, A]


def objective(
    q_function: QFunction,
    mu: th.Tensor,
    log_std: th.Tensor,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
) -> ObjectiveEstimate:
    """J(s, λ) estimated with the reparameterised samples a = tanh(µ + σ·ε), ε = ``noise``.

    :param q_function: the critic ensemble bound to the observations (:func:`ensemble_q_function`)
    :param mu: µ [B, A]
    :param log_std: log σ [B, A]
    :param noise: standard normal ε [N, B, A]
    :param ent_coef: the entropy coefficient α
    :param beta: the pessimism β of Q̂_β
    :return: J per state and the samples behind it
    """
    std = log_std.exp()
    gaussian_actions = mu + noise * std
    actions = th.tanh(gaussian_actions)
    log_prob = squashed_gaussian_log_prob(mu, std, gaussian_actions, actions)
    q_hat = pessimistic_value(q_function(actions), beta)
    value = (q_hat - ent_coef * log_prob).mean(dim=0)
    return ObjectiveEstimate(value=value, actions=actions, log_prob=log_prob)


def objective_gradient(
    q_function: QFunction,
    mu: th.Tensor,
    log_std: th.Tensor,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
) -> ObjectiveEstimate:
    """J(s, λ) and ∇_λ J from one forward and one backward pass.

    λ enters as a constant (detached): the gradient is taken with respect to λ alone, so no
    gradient reaches the critic's or the actor's parameters. Works under ``torch.no_grad()``.
    Each state's J depends only on its own λ, so the gradient of ΣJ is the per-state gradient.
    """
    with th.enable_grad():
        mu = mu.detach().requires_grad_(True)
        log_std = log_std.detach().requires_grad_(True)
        estimate = objective(q_function, mu, log_std, noise, ent_coef, beta)
        grad_mu, grad_log_std = th.autograd.grad(estimate.value.sum(), (mu, log_std))
    return ObjectiveEstimate(
        value=estimate.value.detach(),
        actions=estimate.actions.detach(),
        log_prob=estimate.log_prob.detach(),
        grad_mu=grad_mu,
        grad_log_std=grad_log_std,
    )
