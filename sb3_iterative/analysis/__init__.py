"""The paper's analyses on any trained agent (Marino et al., NeurIPS 2021: Fig. 1–4, 6, 7, Appendices A.2, A.3, B).

Example::

    from sb3_iterative import analysis
    states = analysis.collect_states(model, env, n=100)            # on-policy states
    gap = analysis.amortization_gap(model, states)                 # Fig. 6, A.3: Adam on λ, lr 5e-3, 100 steps
    curve = analysis.improvement_per_iteration(model, states, n_iterations=20)  # Fig. 4b, beyond the trained K
    comparison = analysis.compare_optimizers(model, states)        # Fig. 4c, 18: iterative vs Adam vs CEM
    modes = analysis.policy_modes(model, states, n_runs=10)        # Fig. 7, B.7: distances of tanh(µ) across runs
    figure = analysis.plot_landscape(model, states[0], dims=(0, 1))  # Fig. 1: J over two dims of µ
    bias = analysis.value_bias(model, "Pendulum-v1")              # Fig. 3, A.2: Q̂ − Monte Carlo return
    plans = analysis.planned_trajectories(mb_model, states[0])      # Fig. 13b, c: planning through a model
    moved = analysis.transfer_optimizer(mf_model, mb_model)         # Fig. 9: an optimizer on another objective

Every analysis takes a model of the package (``IterativeSAC``, ``IterativeTQC``, ``IterativeCrossQ``), a stock
SAC, TQC or CrossQ agent where it means something (the gap, modes from random starts, landscapes, value bias:
:mod:`~sb3_iterative.analysis.models`), or a :class:`ChangedObjective` (J changed
at test time); every one evaluates J with :func:`sb3_iterative.objective.objective`. Each returns a
result with ``summary()`` (numbers) and ``plot()`` (a matplotlib figure). :class:`AnalysisCallback`
logs the gap and the per-step improvement while training. ``python -m sb3_iterative.analyze`` runs
them all on a saved model.
"""

from sb3_iterative.analysis.agent import Agent, as_agent
from sb3_iterative.analysis.amortization_gap import AmortizationGap, amortization_gap
from sb3_iterative.analysis.callback import AnalysisCallback
from sb3_iterative.analysis.changed_objective import (
    ChangedObjective,
    QWithTerm,
    action_energy_penalty,
    action_target_penalty,
    transfer_optimizer,
)
from sb3_iterative.analysis.improvement import ImprovementCurve, improvement_per_iteration
from sb3_iterative.analysis.landscape import Landscape, objective_landscape, plot_landscape
from sb3_iterative.analysis.modes import PolicyModes, mode_mass, plot_policy_modes, policy_actions, policy_modes
from sb3_iterative.analysis.optimizer_comparison import OptimizerComparison, compare_optimizers
from sb3_iterative.analysis.planning import PlannedTrajectories, planned_trajectories
from sb3_iterative.analysis.states import collect_states
from sb3_iterative.analysis.value_bias import ValueBias, value_bias

__all__ = [
    "Agent",
    "AmortizationGap",
    "AnalysisCallback",
    "ChangedObjective",
    "ImprovementCurve",
    "Landscape",
    "OptimizerComparison",
    "PlannedTrajectories",
    "PolicyModes",
    "QWithTerm",
    "ValueBias",
    "action_energy_penalty",
    "action_target_penalty",
    "amortization_gap",
    "as_agent",
    "collect_states",
    "compare_optimizers",
    "improvement_per_iteration",
    "mode_mass",
    "objective_landscape",
    "planned_trajectories",
    "plot_landscape",
    "plot_policy_modes",
    "policy_actions",
    "policy_modes",
    "transfer_optimizer",
    "value_bias",
]
