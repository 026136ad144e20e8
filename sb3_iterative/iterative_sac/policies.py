"""IterativeSACPolicy: SAC's policy with the iterative amortized actor (:class:`.IterativePolicy`)."""

from typing import Any

from stable_baselines3.common.torch_layers import (
    CombinedExtractor,
    NatureCNN,
)
from stable_baselines3.sac.policies import SACPolicy

from sb3_iterative.common.policies import IterativePolicy


class IterativeSACPolicy(IterativePolicy, SACPolicy):  # type: ignore[misc]  # the actor and critic types widen
    """Policy of IterativeSAC: an iterative (or direct) amortized actor and SB3's critic ensemble, with
    Q̂_β = mean − β·std (paper Eq. 13).

    Arguments as SB3's :class:`SACPolicy` (``net_arch``, ``activation_fn``, ``n_critics``,
    ``share_features_extractor``, ...), plus those of :class:`.IterativePolicy`.
    """


MlpPolicy = IterativeSACPolicy


class CnnPolicy(IterativeSACPolicy):
    """IterativeSACPolicy with a NatureCNN features extractor (image observations)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(*args, **kwargs)


class MultiInputPolicy(IterativeSACPolicy):
    """IterativeSACPolicy with a CombinedExtractor (dict observations, e.g. with HerReplayBuffer)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(*args, **kwargs)
