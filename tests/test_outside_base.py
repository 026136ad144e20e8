"""A base written outside the package needs nothing but its own module: here a SAC variant with its own critic loss
(the Huber loss) whose policy declares that it refuses the flow actor."""

from typing import Any, ClassVar

import numpy as np
import pytest
import torch as th
from torch.nn import functional as F

from sb3_iterative import IterativeSAC, IterativeSACPolicy
from sb3_iterative.common.policies import Unsupported

from helpers import SMALL


class HuberPolicy(IterativeSACPolicy):
    UNSUPPORTED: ClassVar[Unsupported] = {"actor": (("iterative", "direct"), "its critics train on a Gaussian actor's")}


class HuberIterativeSAC(IterativeSAC):
    """IterativeSAC whose critics regress on their target with the Huber loss."""

    policy_aliases: ClassVar[dict[str, Any]] = {"MlpPolicy": HuberPolicy}

    def _critic_regression(self, current: Any, target: th.Tensor) -> th.Tensor:
        return sum(F.smooth_l1_loss(current_q, target) for current_q in current)  # type: ignore[return-value]


def test_a_base_outside_the_package_trains_with_its_own_loss_and_refuses_what_it_declares():
    model = HuberIterativeSAC("MlpPolicy", "Pendulum-v1", seed=0, policy_kwargs=dict(net_arch=[16, 16]), **SMALL).learn(80)
    assert isinstance(model.policy, HuberPolicy) and model._n_updates > 0
    batch = model.replay_buffer.sample(16)
    ent_coef, noise = model._current_ent_coef(), model.policy.sample_noise(16)
    loss = model._critic_loss(batch, model.gamma, ent_coef, noise)
    with th.no_grad():
        next_actions, next_log_prob = model._next_sample(batch.next_observations, ent_coef, noise)
    current, next_value = model._critic_values(batch, next_actions, next_log_prob, ent_coef)
    target = batch.rewards + (1 - batch.dones) * model.gamma * next_value
    th.testing.assert_close(loss, sum(F.smooth_l1_loss(current_q, target) for current_q in current))
    assert not th.isclose(loss, 0.5 * sum(F.mse_loss(current_q, target) for current_q in current))  # not SAC's
    assert np.isfinite(model.predict(np.zeros((2, 3), dtype=np.float32), deterministic=True)[0]).all()
    with pytest.raises(ValueError, match=r"actor must be 'iterative' or 'direct' for HuberPolicy: its critics train"):
        HuberIterativeSAC("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(actor="flow"))
