"""IterativeTQCPolicy: the iterative amortized actor on sb3-contrib TQC's quantile critics."""

from typing import Any, ClassVar

from gymnasium import spaces
from sb3_contrib.tqc.policies import TQCPolicy
from stable_baselines3.common.torch_layers import CombinedExtractor, NatureCNN
from stable_baselines3.common.type_aliases import Schedule

from sb3_iterative.common.options import check_count
from sb3_iterative.common.policies import IterativePolicy, Unsupported
from sb3_iterative.pessimism import TruncatedQuantiles

# TQC's actor maximizes the mean of every quantile: the objective IterativeTQC acts with
DEFAULT_BETA_COLLECT = 0


class IterativeTQCPolicy(IterativePolicy, TQCPolicy):  # type: ignore[misc]  # the actor and critic types widen
    """Policy of IterativeTQC: an iterative (or direct) amortized actor and TQC's quantile critics.

    J's value is TQC's truncation (:class:`~sb3_iterative.pessimism.TruncatedQuantiles`): Q̂_β is the
    mean of the critics' pooled quantiles without the β largest of each critic. Arguments as
    sb3-contrib's :class:`TQCPolicy` (``n_quantiles``, ``n_critics``, ``net_arch``, ...), plus those of
    :class:`~sb3_iterative.common.policies.IterativePolicy`, except:

    :param beta_collect: the quantiles dropped per critic in J while acting (collection, ``predict``):
        0 by default, the mean of every quantile, TQC's actor objective
    :param critic_arch: ``"A"`` only: the critic is TQC's quantile MLP
    :param value_estimator: ``"critic"`` only: the model-based estimate is IterativeSAC's
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        n_quantiles: int = 25,
        beta_collect: float = DEFAULT_BETA_COLLECT,
        **kwargs: Any,
    ):
        check_count("n_quantiles", n_quantiles)
        super().__init__(
            observation_space, action_space, lr_schedule, n_quantiles=n_quantiles, beta_collect=beta_collect, **kwargs
        )

    UNSUPPORTED: ClassVar[Unsupported] = {
        "critic_arch": (("A",), "the critic is TQC's quantile MLP"),
        "value_estimator": (("critic",), "the model-based estimate is IterativeSAC's"),
    }

    pessimism: TruncatedQuantiles

    def make_pessimism(self) -> TruncatedQuantiles:
        """TQC's truncation over the pooled quantiles of the critics."""
        return TruncatedQuantiles(self.critic.n_critics, self.critic_kwargs["n_quantiles"])


MlpPolicy = IterativeTQCPolicy


class CnnPolicy(IterativeTQCPolicy):
    """IterativeTQCPolicy with a NatureCNN features extractor (image observations)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", NatureCNN)
        super().__init__(*args, **kwargs)


class MultiInputPolicy(IterativeTQCPolicy):
    """IterativeTQCPolicy with a CombinedExtractor (dict observations, e.g. with HerReplayBuffer)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(*args, **kwargs)
