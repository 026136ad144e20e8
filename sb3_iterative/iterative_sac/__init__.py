from sb3_iterative.common.iterative_actor import IterativeActor
from sb3_iterative.iterative_sac.iterative_sac import IterativeSAC
from sb3_iterative.iterative_sac.policies import CnnPolicy, IterativeSACPolicy, MlpPolicy, MultiInputPolicy

__all__ = ["CnnPolicy", "IterativeActor", "IterativeSAC", "IterativeSACPolicy", "MlpPolicy", "MultiInputPolicy"]
