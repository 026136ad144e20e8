"""The amortization gap (paper Fig. 6, Appendix A.3): how much J a per-state optimizer still finds.

From the amortized λ of each state, Adam optimizes λ on J (lr 5e−3, 100 steps, as the paper); the
gap is J(optimized λ) − J(amortized λ). Both J are estimated on the same samples (100 per state), so
the gap measures λ, not sampling noise. It is ≈ 0 where the amortized λ is a local optimum of J, and
can come out slightly negative there (Adam's last steps are noisy). An iterative optimizer can be run
with more iterations than it was trained with (``n_iterations``: the paper's 5 extra iterations).
For a flow policy (the paper's Fig. 15) λ is its base Gaussian (µ, log σ): Adam moves it per state,
the state's flow transforms stay as the actor made them.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from sb3_iterative.analysis.agent import Model, as_agent, check_beta, keeps_training_mode
from sb3_iterative.analysis.optimizers import adam
from sb3_iterative.analysis.plotting import axes
from sb3_iterative.common.options import check_count, check_positive


@dataclass
class AmortizationGap:
    """J(s, λ) before and after per-state optimization for B states ([B] each), and the two λ
    (µ and log σ, [B, A] each)."""

    amortized_value: np.ndarray
    optimized_value: np.ndarray
    amortized_mu: np.ndarray
    amortized_log_std: np.ndarray
    optimized_mu: np.ndarray
    optimized_log_std: np.ndarray
    beta: float

    @property
    def gap(self) -> np.ndarray:
        """J(optimized λ) − J(amortized λ) per state [B]."""
        return self.optimized_value - self.amortized_value

    def summary(self) -> dict[str, Any]:
        return dict(
            mean=float(self.gap.mean()),
            std=float(self.gap.std()),
            median=float(np.median(self.gap)),
            mean_amortized_objective=float(self.amortized_value.mean()),
            mean_optimized_objective=float(self.optimized_value.mean()),
            n_states=len(self.gap),
            beta=self.beta,
            per_state=self.gap.tolist(),
        )

    def plot(self, ax: Axes | None = None, label: str | None = None) -> Figure:
        """Histogram of the per-state gap."""
        figure, ax = axes(ax)
        ax.hist(self.gap, bins=30, alpha=0.7, label=label or f"mean {self.gap.mean():.3g}")
        ax.axvline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("amortization gap  J(optimized λ) − J(amortized λ)")
        ax.set_ylabel("states")
        ax.legend()
        return figure


@keeps_training_mode
def amortization_gap(
    model: Model,
    states: Any,
    n_steps: int = 100,
    lr: float = 5e-3,
    n_action_samples: int = 10,
    n_eval_samples: int = 100,
    n_iterations: int | None = None,
    beta: float | None = None,
    seed: int = 0,
) -> AmortizationGap:
    """The amortization gap of ``model`` on ``states`` (Appendix A.3).

    :param model: a model of the package or a stock SAC, TQC or CrossQ agent, or a :class:`ChangedObjective`
    :param states: B observations [B, *observation shape] (e.g. from :func:`collect_states`)
    :param n_steps: Adam steps on λ per state
    :param lr: Adam's learning rate
    :param n_action_samples: N, samples behind each Adam step's ∇_λ J
    :param n_eval_samples: samples behind J before and after (the same for both)
    :param n_iterations: K of an iterative optimizer (None: the model's)
    :param beta: β of J (None: the model's acting β, ``beta_collect``; 1 for SAC)
    :param seed: seed of every sample drawn here (torch's global generator is not used)
    """
    agent = as_agent(model)
    n_steps = check_count("n_steps", n_steps)
    lr = check_positive("lr", lr)
    n_action_samples = check_count("n_action_samples", n_action_samples)
    n_eval_samples = check_count("n_eval_samples", n_eval_samples)
    if n_iterations is not None:
        n_iterations = check_count("n_iterations", n_iterations)
    beta = check_beta(beta, agent)
    obs = agent.observations(states)
    generator = agent.generator(seed)

    value_estimate = agent.bind(obs)
    trace = agent.amortized(obs, value_estimate, beta, generator, n_iterations)
    mu, log_std = trace.mu, trace.log_std
    distribution = trace.distribution
    path = adam(value_estimate, mu, log_std, agent.ent_coef, beta, n_steps, lr, n_action_samples, generator, distribution)
    noise = agent.noise(n_eval_samples, mu.shape[0], generator)
    return AmortizationGap(
        amortized_value=agent.evaluate(value_estimate, mu, log_std, noise, beta, distribution).cpu().numpy(),
        optimized_value=agent.evaluate(value_estimate, path.mu[-1], path.log_std[-1], noise, beta, distribution).cpu().numpy(),
        amortized_mu=mu.cpu().numpy(),
        amortized_log_std=log_std.cpu().numpy(),
        optimized_mu=path.mu[-1].cpu().numpy(),
        optimized_log_std=path.log_std[-1].cpu().numpy(),
        beta=beta,
    )
