from sb3_iterative.iterative_crossq.iterative_crossq import IterativeCrossQ
from sb3_iterative.iterative_crossq.policies import IterativeCrossQPolicy, MlpPolicy

__all__ = ["IterativeCrossQ", "IterativeCrossQPolicy", "MlpPolicy"]
