"""Optimizers of J over λ that are not amortized: Adam and the cross-entropy method (paper Appendix A.3, B.4).

They run on the agent's own J, one λ = (µ, log σ) per state and all states at once (µ and log σ
each [B, A]): Adam through :func:`objective_gradient`, the cross-entropy method through
:func:`objective`, in two forms: the paper's, over actions (:func:`action_cross_entropy_method`), and
one over λ itself (:func:`cross_entropy_method`). log σ is kept in SAC's range [−20, 2], where every
actor of the package puts it.
Each returns the whole path λ_0..λ_T, so that J can be evaluated afterwards at every iteration,
on samples that are the same for every optimizer compared, and the wall time of each iteration,
which excludes that evaluation.
"""

import time
from dataclasses import dataclass

import numpy as np
import torch as th
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.objective import ValueEstimate, noise_plan, objective, objective_gradient


@dataclass
class OptimizationPath:
    """λ_t for t = 0..T, µ and log σ each [T + 1, B, A], and the seconds of each iteration [T]."""

    mu: th.Tensor
    log_std: th.Tensor
    seconds: np.ndarray

    @staticmethod
    def of(lambdas: list[tuple[th.Tensor, th.Tensor]], seconds: list[float] | None = None) -> "OptimizationPath":
        """The path of a list of λ_t = (µ_t, log σ_t) (e.g. an :class:`IterativeTrace`'s ``lambdas``)."""
        mu, log_std = zip(*lambdas, strict=True)
        return OptimizationPath(th.stack(mu), th.stack(log_std), np.asarray(seconds if seconds is not None else []))


def adam(
    value_estimate: ValueEstimate,
    mu: th.Tensor,
    log_std: th.Tensor,
    ent_coef: float,
    beta: float,
    n_steps: int,
    lr: float,
    n_action_samples: int,
    generator: th.Generator,
    distribution: PolicyDistribution = TANH_GAUSSIAN,
) -> OptimizationPath:
    """Gradient ascent on J(s, λ) with Adam from λ = (``mu``, ``log_std``), fresh samples ε at every step.

    :param value_estimate: the value estimate of J bound to the B states
    :param n_action_samples: N, samples behind each estimate of ∇_λ J
    :param distribution: the policy's family (a flow policy: λ is its base Gaussian, the flow stays fixed)
    """
    mu, log_std = mu.detach().clone(), log_std.detach().clone()
    optimizer = th.optim.Adam([mu, log_std], lr=lr, maximize=True)
    lambdas, seconds = [(mu.clone(), log_std.clone())], []
    for _ in range(n_steps):
        start = time.perf_counter()
        noise = noise_plan(1, n_action_samples, mu.shape[0], mu.shape[1], generator, device=mu.device)[0]
        estimate = objective_gradient(value_estimate, mu, log_std, noise, ent_coef, beta, False, distribution)
        mu.grad, log_std.grad = estimate.grad_mu, estimate.grad_log_std
        optimizer.step()
        with th.no_grad():
            log_std.clamp_(LOG_STD_MIN, LOG_STD_MAX)
        seconds.append(time.perf_counter() - start)
        lambdas.append((mu.clone(), log_std.clone()))
    return OptimizationPath.of(lambdas, seconds)


def action_cross_entropy_method(
    value_estimate: ValueEstimate,
    mu: th.Tensor,
    log_std: th.Tensor,
    ent_coef: float,
    beta: float,
    n_steps: int,
    n_samples: int,
    n_elites: int,
    step_size: float,
    generator: th.Generator,
) -> OptimizationPath:
    """The paper's cross-entropy method (Appendix B.4): sample actions from π, refit to the best, step towards the fit.

    Each iteration draws ``n_samples`` actions per state from π(·|s; λ) itself (a = tanh(u), u = µ + σ·ε),
    ranks them by their term of J, Q̂_β(s, a) − α·log π(a|s; λ) (so that σ enters the ranking as it
    enters J: a sample far in the tails gains α·|log π|), fits a Gaussian to the best ``n_elites``
    pre-tanh samples (their mean, and the log of their std), and moves λ a step of ``step_size``
    towards that fit: λ ← λ + η·(λ_fit − λ), the paper's step size 0.01 for CEM as for Adam.

    :param value_estimate: the value estimate of J bound to the B states
    """
    mu, log_std = mu.detach().clone(), log_std.detach().clone()
    lambdas, seconds = [(mu.clone(), log_std.clone())], []
    for _ in range(n_steps):
        start = time.perf_counter()
        with th.no_grad():
            noise = noise_plan(1, n_samples, mu.shape[0], mu.shape[1], generator, device=mu.device)[0]
            terms = objective(value_estimate, mu, log_std, noise, ent_coef, beta).terms  # [S, B]
            assert terms is not None
            elites = terms.topk(n_elites, dim=0).indices.unsqueeze(-1).expand(-1, -1, mu.shape[-1])  # [E, B, A]
            elite_actions = TANH_GAUSSIAN.reparameterize(mu, log_std, noise)[1].gather(0, elites)  # pre-tanh
            fit_mu = elite_actions.mean(dim=0)
            fit_log_std = elite_actions.std(dim=0, unbiased=False).log().clamp(LOG_STD_MIN, LOG_STD_MAX)
            mu += step_size * (fit_mu - mu)
            log_std += step_size * (fit_log_std - log_std)
        seconds.append(time.perf_counter() - start)
        lambdas.append((mu.clone(), log_std.clone()))
    return OptimizationPath.of(lambdas, seconds)


def cross_entropy_method(
    repeated_value_estimate: ValueEstimate,
    mu: th.Tensor,
    log_std: th.Tensor,
    ent_coef: float,
    beta: float,
    n_steps: int,
    n_candidates: int,
    n_elites: int,
    n_action_samples: int,
    init_std: float,
    generator: th.Generator,
) -> OptimizationPath:
    """The cross-entropy method on λ (not the paper's): a Gaussian search distribution over λ, refit to the best candidates.

    Each iteration draws ``n_candidates`` λ per state from N(m, s²) (diagonal, over the 2|A| numbers
    of µ and log σ), estimates J at each with the same N samples ε for every candidate of a state (so
    that the ranking compares λ, not samples), and refits m and s to the ``n_elites`` best. λ_t is
    the mean m after t refits; it starts at λ = (``mu``, ``log_std``) with s = ``init_std``. CEM
    works on J itself, not on Q alone: refitting to actions ranked by Q would shrink σ to zero and
    lose the entropy term of J.

    :param repeated_value_estimate: the value estimate of J bound to the B states repeated ``n_candidates``
        times, whole batch after whole batch ([C·B])
    """
    batch_size, action_dim = mu.shape
    mean = th.cat([mu, log_std], dim=-1).detach()  # [B, 2A]
    std = th.full_like(mean, init_std)
    lambdas, seconds = [(mu.detach().clone(), log_std.detach().clone())], []
    for _ in range(n_steps):
        start = time.perf_counter()
        with th.no_grad():
            candidates = mean + std * th.randn(n_candidates, *mean.shape, generator=generator, device=mean.device)
            candidate_mu, candidate_log_std = candidates.split(action_dim, dim=-1)  # [C, B, A] each
            candidate_log_std = candidate_log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
            noise = noise_plan(1, n_action_samples, batch_size, action_dim, generator, device=mean.device)[0].unsqueeze(1)
            noise = noise.expand(-1, n_candidates, -1, -1).reshape(n_action_samples, n_candidates * batch_size, action_dim)
            values = objective(
                repeated_value_estimate,
                candidate_mu.reshape(-1, action_dim),
                candidate_log_std.reshape(-1, action_dim),
                noise,
                ent_coef,
                beta,
            ).value.view(n_candidates, batch_size)
            elites = values.topk(n_elites, dim=0).indices  # [E, B]
            elite_lambdas = th.cat([candidate_mu, candidate_log_std], dim=-1).gather(
                0, elites.unsqueeze(-1).expand(-1, -1, 2 * action_dim)
            )
            mean, std = elite_lambdas.mean(dim=0), elite_lambdas.std(dim=0, unbiased=False)
        seconds.append(time.perf_counter() - start)
        mean_mu, mean_log_std = mean.split(action_dim, dim=-1)
        lambdas.append((mean_mu.clone(), mean_log_std.clone()))
    return OptimizationPath.of(lambdas, seconds)
