"""The policy's distribution families: what π(·|s; λ) is, given its per-state parameters λ = (µ, log σ).

Both families start from a diagonal Gaussian u₀ ~ N(µ, σ²) with λ = (µ, log σ) and end with a tanh
into the action box. :class:`TanhGaussian` (SAC's policy, the iterative actor's) has nothing in
between. :class:`TanhFlow` (the paper's flow-policy baseline, Appendix B.2) pushes u₀ through
inverse autoregressive transforms first: a = tanh(T(u₀)), T bound to the states.

Each family answers the two questions J asks (:func:`sb3_iterative.objective.objective`): the actions
of given standard normal noise ε (reparameterised, a = g(µ + σ·ε)) with their log-density, and the
deterministic action (the base mean through the same map).

Shapes: λ each [B, A]; noise and actions [N, B, A]; log-densities [N, B].
"""

import math
from typing import Protocol

import torch as th
from torch.distributions import Independent, Normal, TanhTransform, Transform

from sb3_iterative.extras import import_extra

# The flow family's library (zuko) comes with the package's [flow] extra
FLOW_FEATURE = "The flow policy (actor='flow')"

# Keeps log(1 - tanh(u)^2) finite; SB3's SquashedDiagGaussianDistribution uses the same value.
TANH_EPSILON = 1e-6


def squashed_gaussian_log_prob(mu: th.Tensor, std: th.Tensor, gaussian_actions: th.Tensor, actions: th.Tensor) -> th.Tensor:
    """log π(a|s; λ) of a = tanh(u), u ~ N(µ, σ²), summed over action dimensions.

    Written in the order of operations of ``torch.distributions.Normal.log_prob`` and SB3's
    ``SquashedDiagGaussianDistribution.log_prob``, so that ``actor="direct"`` reproduces SAC
    bit for bit.
    """
    gaussian = -((gaussian_actions - mu) ** 2) / (2 * std**2) - std.log() - math.log(math.sqrt(2 * math.pi))
    return gaussian.sum(dim=-1) - th.log(1 - actions**2 + TANH_EPSILON).sum(dim=-1)


class PolicyDistribution(Protocol):
    """A family of π(·|s; λ) with λ = (µ, log σ) of a base Gaussian, bound to a batch of states."""

    def sample(self, mu: th.Tensor, log_std: th.Tensor, noise: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The actions of noise ε [N, B, A], reparameterised, and their log π [N, B]."""
        ...

    def mode(self, mu: th.Tensor, log_std: th.Tensor) -> th.Tensor:
        """The deterministic action [B, A]."""
        ...


class TanhGaussian:
    """a = tanh(u), u ~ N(µ, σ²): SAC's squashed diagonal Gaussian (SB3's ``SquashedDiagGaussianDistribution``).

    J's gradient for this family is also written by hand (:func:`sb3_iterative.objective.objective_gradient`).
    """

    def reparameterize(self, mu: th.Tensor, log_std: th.Tensor, noise: th.Tensor) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """σ, the Gaussian actions u = µ + σ·ε and the actions a = tanh(u) (noise and actions [N, B, A], or [B, A]):
        the one place the family's samples are made (its log π and the hand-written ∇_λ J read u and σ)."""
        std = log_std.exp()
        gaussian_actions = mu + noise * std
        return std, gaussian_actions, th.tanh(gaussian_actions)

    def sample(self, mu: th.Tensor, log_std: th.Tensor, noise: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Actions tanh(µ + σ·ε) [N, B, A] and their log π [N, B]."""
        std, gaussian_actions, actions = self.reparameterize(mu, log_std, noise)
        return actions, squashed_gaussian_log_prob(mu, std, gaussian_actions, actions)

    def mode(self, mu: th.Tensor, log_std: th.Tensor) -> th.Tensor:
        """The deterministic action tanh(µ) [B, A]."""
        return th.tanh(mu)


TANH_GAUSSIAN = TanhGaussian()


class TanhFlow:
    """a = tanh(T(u₀)), u₀ ~ N(µ, σ²), T a normalizing flow already bound to the B states.

    log π(a) = log N(u₀; µ, σ²) − log|det ∂(tanh ∘ T)/∂u₀|, from one pass in the sampling direction
    (T's transforms are inverse autoregressive: each computes its shift and scale from its input). The
    flow and its log-determinant are the flow library's (zuko), composed with torch's ``TanhTransform``
    (its exact log-derivative, not SB3's ε-regularised one): :meth:`distribution` is the same π as a
    library distribution, whose ``log_prob`` of given actions inverts every transform.

    :param flow: T, the transforms from the base space to the pre-tanh space, bound to the states
        (each of their parameters broadcasts over the samples' leading dimension)
    """

    def __init__(self, flow: Transform):
        self.squash = import_extra("zuko.transforms", "flow", FLOW_FEATURE).ComposedTransform(flow, TanhTransform())

    def sample(self, mu: th.Tensor, log_std: th.Tensor, noise: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Actions tanh(T(µ + σ·ε)) [N, B, A] and their log π [N, B]."""
        std = log_std.exp()
        base_actions = mu + noise * std
        actions, log_det = self.squash.call_and_ladj(base_actions)
        return actions, Normal(mu, std).log_prob(base_actions).sum(dim=-1) - log_det

    def mode(self, mu: th.Tensor, log_std: th.Tensor) -> th.Tensor:
        """The deterministic action tanh(T(µ)) [B, A]: the base mean through the flow and the tanh."""
        return self.squash(mu)

    def distribution(self, mu: th.Tensor, log_std: th.Tensor) -> th.distributions.Distribution:
        """π(·|s; λ) as the flow library's distribution (``log_prob``, ``rsample_and_log_prob``)."""
        flows = import_extra("zuko.distributions", "flow", FLOW_FEATURE)
        return flows.NormalizingFlow(self.squash.inv, Independent(Normal(mu, log_std.exp()), 1))
