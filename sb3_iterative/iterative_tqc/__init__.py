from sb3_iterative.iterative_tqc.iterative_tqc import IterativeTQC
from sb3_iterative.iterative_tqc.policies import CnnPolicy, IterativeTQCPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "IterativeTQC", "IterativeTQCPolicy", "MlpPolicy", "MultiInputPolicy"]
