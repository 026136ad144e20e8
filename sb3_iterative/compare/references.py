"""Per-task references of the report's normalized scores: score = (return − random) / (reference − random).

0 is a uniformly random policy's return, measured by ``benchmarks/random_returns.py`` (50 episodes,
seed 0, 2026-11-23, gymnasium 1.4.0 / mujoco 4.0.0). 1 is a named reference:

- rl-zoo3's SAC (``benchmark.md`` of DLR-RM/rl-baselines3-zoo at 0088472: one trained agent at rl-zoo3's budget,
  its deterministic policy over about 150 000 evaluation steps) where rl-zoo3 lists one. rl-zoo3 lists
  the MuJoCo tasks at v3; their dynamics and rewards are those of v5 up to bug fixes, so the numbers
  are a scale, not a target for v5 runs.
- The reward's maximum where the task has one and rl-zoo3 no SAC entry: InvertedPendulum (1 per step,
  1 000 steps) and InvertedDoublePendulum (10 − (1.2 − 2)² = 9.36 per step with the pole upright, the
  tip at height 1.2, over 1 000 steps).

Reacher-v5 and HumanoidStandup-v5 have neither; normalizing them raises an error naming the task.
"""

from dataclasses import dataclass

import numpy as np

# The tasks of the package's hyperparameter files
TASKS = (
    "Pendulum-v1",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Reacher-v5",
    "Swimmer-v5",
    "Hopper-v5",
    "HalfCheetah-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Humanoid-v5",
    "HumanoidStandup-v5",
)


@dataclass(frozen=True)
class Reference:
    random: float  # the return of a uniformly random policy: score 0
    reference: float  # score 1
    source: str  # where ``reference`` comes from


RL_ZOO_SAC = "rl-zoo3 benchmark.md, SAC"
REFERENCES: dict[str, Reference] = {
    "Pendulum-v1": Reference(-1227.8, -156.995, f"{RL_ZOO_SAC} (Pendulum-v1, 20k steps)"),
    "InvertedPendulum-v5": Reference(4.8, 1000.0, "the reward's maximum (1 000 steps)"),
    "InvertedDoublePendulum-v5": Reference(47.1, 9360.0, "the reward's maximum (9.36 × 1 000 steps)"),
    "Swimmer-v5": Reference(-0.6, 345.568, f"{RL_ZOO_SAC} (Swimmer-v3, 1M steps)"),
    "Hopper-v5": Reference(17.9, 2325.547, f"{RL_ZOO_SAC} (Hopper-v3, 1M steps)"),
    "HalfCheetah-v5": Reference(-283.2, 9535.451, f"{RL_ZOO_SAC} (HalfCheetah-v3, 1M steps)"),
    "Walker2d-v5": Reference(1.3, 3863.203, f"{RL_ZOO_SAC} (Walker2d-v3, 1M steps)"),
    "Ant-v5": Reference(-38.4, 4615.791, f"{RL_ZOO_SAC} (Ant-v3, 1M steps)"),
    "Humanoid-v5": Reference(111.4, 6232.287, f"{RL_ZOO_SAC} (Humanoid-v3, 2M steps)"),
}


def normalize(env: str, returns: np.ndarray, references: dict[str, Reference] | None = None) -> np.ndarray:
    """Normalized scores of a task's returns: 0 for a random policy, 1 for its reference.

    :raises KeyError: the task has no reference, naming it and the tasks that have one
    """
    table = REFERENCES if references is None else references
    if env not in table:
        raise KeyError(
            f"no reference score for {env!r}: normalized scores need a random and a reference return per task "
            f"(sb3_iterative/compare/references.py has them for {', '.join(sorted(table))})"
        )
    reference = table[env]
    return (np.asarray(returns, dtype=float) - reference.random) / (reference.reference - reference.random)
