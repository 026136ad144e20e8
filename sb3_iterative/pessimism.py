"""Pessimism: how the critics' outputs for one action become the scalar Q̂_β inside J.

The iterative optimizer exploits the critics' errors more than a direct actor does, so the paper
makes the value inside J pessimistic (Eq. 13): Q̂_β = mean − β·std over the critic ensemble. A
critic with several outputs per member (TQC's quantiles) is made pessimistic another way, by
truncation. Both are a :class:`Pessimism`: the aggregate, its derivative in the critics' outputs
(for the hand-written action gradient, computed with it) and the check of its β. β is the one knob of each, passed
where J is estimated (training and acting use different values).

Shapes: the critics' outputs for a batch of actions [..., n_outputs] (n_critics for an ensemble of
Q functions, n_critics · n_quantiles for quantile critics, member-major); Q̂_β [...].
"""

import math
from typing import Any, NamedTuple, Protocol

import torch as th

# Below this ensemble variance the std is taken as exactly zero, where its gradient is undefined.
MIN_VARIANCE = 1e-12


class _Spread(NamedTuple):
    """mean − β·std over the last dimension and the moments behind it, each with that dimension kept."""

    value: th.Tensor
    centred: th.Tensor  # Q_i − mean
    variance: th.Tensor
    std: th.Tensor


def _spread(q_values: th.Tensor, beta: float) -> _Spread:
    mean = q_values.mean(dim=-1, keepdim=True)
    centred = q_values - mean
    variance = centred.pow(2).mean(dim=-1, keepdim=True)
    std = variance.clamp_min(MIN_VARIANCE).sqrt()
    return _Spread(mean - beta * std, centred, variance, std)


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
    if beta == 0.0:
        return q_values.mean(dim=-1)
    return _spread(q_values, beta).value.squeeze(-1)


def pessimistic_value_and_weights(q_values: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
    """:func:`pessimistic_value` and its derivative ∂Q̂_β/∂Q_i (the shape of ``q_values``), sharing
    their work: 1/n − β·(Q_i − mean)/(n·std); for the min (β = 1, two critics), 1 on the smaller
    critic (the first on ties, as ``argmin``)."""
    n_critics = q_values.shape[-1]
    if n_critics == 2 and beta == 1.0:
        value, lowest = q_values.min(dim=-1)
        return value, th.zeros_like(q_values).scatter_(-1, lowest.unsqueeze(-1), 1.0)
    if beta == 0.0:
        return q_values.mean(dim=-1), th.full_like(q_values, 1.0 / n_critics)
    spread = _spread(q_values, beta)
    scale = th.where(spread.variance > MIN_VARIANCE, beta / (n_critics * spread.std), th.zeros_like(spread.std))
    return spread.value.squeeze(-1), 1.0 / n_critics - scale * spread.centred


class Pessimism(Protocol):
    """Q̂_β from the critics' outputs for one action, its derivative, and which β it accepts."""

    def value(self, q_values: th.Tensor, beta: float) -> th.Tensor:
        """Q̂_β [...] of the outputs [..., n_outputs]."""
        ...

    def value_and_weights(self, q_values: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        """Q̂_β [...] and ∂Q̂_β/∂(each output), the shape of ``q_values``, computed together (the
        hand-written action gradient needs both, and they share their work)."""
        ...

    def check(self, name: str, beta: Any) -> None:
        """Raise a ValueError naming ``name`` unless ``beta`` is a β this pessimism accepts."""
        ...


class EnsembleStd:
    """mean − β·std over an ensemble of Q functions (paper Eq. 13): :func:`pessimistic_value`.

    :param n_critics: the ensemble's size, for ``check`` (with one critic there is no std: only
        β = 0); None: unknown (the aggregate reads it from the Q values)
    """

    def __init__(self, n_critics: int | None = None):
        self.n_critics = n_critics

    def value(self, q_values: th.Tensor, beta: float) -> th.Tensor:
        return pessimistic_value(q_values, beta)

    def value_and_weights(self, q_values: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        return pessimistic_value_and_weights(q_values, beta)

    def check(self, name: str, beta: Any) -> None:
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not math.isfinite(beta):
            raise ValueError(f"{name} must be a finite number, got {beta!r}")
        if self.n_critics == 1 and beta != 0:
            raise ValueError(f"{name}={beta} needs an ensemble: with n_critics=1 there is no std across critics; set {name}=0")


class TruncatedQuantiles:
    """TQC's truncation (Kuznetsov et al., 2020) as Q̂_β: the mean of the pooled quantiles of every
    critic after dropping the β largest per critic, that is the n_critics·(n_quantiles − β) smallest.

    β = 0 is the mean of every quantile, TQC's actor objective, computed as TQC computes it (per
    critic, then across critics). Dropped atoms get zero weight in the derivative; ties are broken
    by the sort.

    :param n_critics: the number of quantile critics
    :param n_quantiles: the quantiles each critic outputs
    """

    def __init__(self, n_critics: int, n_quantiles: int):
        self.n_critics = n_critics
        self.n_quantiles = n_quantiles

    def kept(self, beta: float) -> int:
        """How many of the pooled quantiles Q̂_β averages."""
        return self.n_critics * (self.n_quantiles - int(beta))

    def _lowest(self, q_values: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        """The pooled quantiles without the β largest per critic, sorted, and where they were [..., kept]."""
        kept = self.kept(beta)
        ordered, order = th.sort(q_values, dim=-1)
        return ordered[..., :kept], order[..., :kept]

    def truncate(self, q_values: th.Tensor, beta: float) -> th.Tensor:
        """The pooled quantiles without the β largest per critic, sorted [..., kept] (TQC's target atoms)."""
        return self._lowest(q_values, beta)[0]

    def value(self, q_values: th.Tensor, beta: float) -> th.Tensor:
        if beta == 0:
            return q_values.unflatten(-1, (self.n_critics, self.n_quantiles)).mean(dim=-1).mean(dim=-1)
        return self.truncate(q_values, beta).mean(dim=-1)

    def value_and_weights(self, q_values: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        kept = self.kept(beta)
        if kept == q_values.shape[-1]:
            return self.value(q_values, beta), th.full_like(q_values, 1.0 / kept)
        atoms, where = self._lowest(q_values, beta)
        return atoms.mean(dim=-1), th.zeros_like(q_values).scatter_(-1, where, 1.0 / kept)

    def check(self, name: str, beta: Any) -> None:
        integer = isinstance(beta, (int, float)) and not isinstance(beta, bool) and math.isfinite(beta) and beta == int(beta)
        if not (integer and 0 <= beta < self.n_quantiles):
            raise ValueError(
                f"{name} is the number of top quantiles dropped per critic: an integer in [0, n_quantiles) = "
                f"[0, {self.n_quantiles}), got {beta!r}"
            )
