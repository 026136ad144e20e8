"""IterativeCrossQPolicy: the iterative amortized actor on sb3-contrib CrossQ's batch-renormalized critics."""

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import torch as th
from sb3_contrib.common.torch_layers import BatchRenorm
from sb3_contrib.crossq.policies import CrossQPolicy
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from sb3_iterative.common.policies import IterativePolicy, Unsupported


@contextlib.contextmanager
def batch_statistics(module: object, training: bool) -> Iterator[None]:
    """``module``'s batch renormalization layers in training mode (batch statistics, running statistics
    updated) or evaluation mode (running statistics) inside, as they were after (None: nothing changes)."""
    layers = [layer for layer in module.modules() if isinstance(layer, BatchRenorm)] if isinstance(module, nn.Module) else []
    modes = [layer.training for layer in layers]
    for layer in layers:
        layer.train(training)
    try:
        yield
    finally:
        for layer, mode in zip(layers, modes, strict=True):
            layer.train(mode)


class IterativeCrossQPolicy(IterativePolicy, CrossQPolicy):  # type: ignore[misc]  # the actor type widens
    """Policy of IterativeCrossQ: an iterative (or direct) amortized actor and CrossQ's batch-renormalized
    critic ensemble, with Q̂_β = mean − β·std (paper Eq. 13; β = 1 with two critics is CrossQ's min).

    Arguments as sb3-contrib's :class:`CrossQPolicy` (``net_arch``, ``batch_norm``,
    ``batch_norm_momentum``, ``batch_norm_eps``, ``renorm_warmup_steps``, ``n_critics``, ...), plus those
    of :class:`~sb3_iterative.common.policies.IterativePolicy`, except:

    :param actor: ``"iterative"`` or ``"direct"`` (CrossQ's batch-renormalized actor); the flow baseline
        is SAC's actor with a flow and is not offered here
    :param critic_arch: ``"A"`` only: the critic is CrossQ's batch-renormalized MLP
    :param value_estimator: ``"critic"`` only: the model-based estimate bootstraps from target critics,
        which CrossQ does not have

    Where the critics serve as J (the K iterations of acting, of the actor's step and of the critic
    target's next actions) they normalize with their running statistics (evaluation mode), as CrossQ's
    own actor step reads them: each state's J is then a function of that state alone. The iterative
    optimizer f_φ has no batch renormalization: its inputs are already normalized per state (Eq. 11).
    A distilled direct policy (``warm_start``, ``distilled_target``) is CrossQ's actor, read with its
    running statistics and trained on batch statistics.
    """

    UNSUPPORTED: ClassVar[Unsupported] = {
        "actor": (("iterative", "direct"), "the flow-policy baseline is SAC's actor with a flow (IterativeSAC, actor='flow')"),
        "critic_arch": (("A",), "the critic is CrossQ's batch-renormalized MLP"),
        "value_estimator": (("critic",), "the model-based estimate bootstraps from target critics, which CrossQ lacks"),
    }

    def actor_forward(self) -> contextlib.AbstractContextManager[None]:
        """CrossQ's direct actor trains on batch statistics and updates its running ones in the actor's step."""
        return batch_statistics(self.actor, True)

    def critic_joint_pass(self) -> contextlib.AbstractContextManager[None]:
        """The critics on batch statistics for CrossQ's joint (s, a)/(s', a') pass of the critic loss."""
        return batch_statistics(self.critic, True)

    def critics_as_j(self) -> contextlib.AbstractContextManager[None]:
        """The critics on their running statistics while they serve as J (CrossQ's actor step reads them so)."""
        return batch_statistics(self.critic, False)

    def target_modes(self) -> contextlib.AbstractContextManager[Any]:
        """The critics (J of the iterations), the actor and the distilled policy on their running statistics while
        the critic target finds λ' and a' (CrossQ's next actions)."""
        stack = contextlib.ExitStack()
        for module in (self.critic, self.actor, self.distilled_policy):
            stack.enter_context(batch_statistics(module, False))
        return stack

    def distilled_parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        with batch_statistics(self.distilled_policy, False):  # a read must not move its running statistics
            return super().distilled_parameters(obs)


MlpPolicy = IterativeCrossQPolicy
