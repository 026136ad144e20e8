"""The paper's flow-policy baseline (Appendix B.2, Fig. 15–16): a direct actor whose policy is a normalizing flow.

SAC's direct actor gives a state-dependent Gaussian N(µ(s), σ(s)²); here its sample goes through
inverse autoregressive transforms (IAF, Kingma et al. 2016) before the tanh:

    u₀ = µ(s) + σ(s)·ε,   u = T₂(T₁(u₀; s); s),   a = tanh(u)

Each transform is zuko's masked autoregressive transform used in its one-pass direction: the shift and
log-scale of every action dimension come from a masked MLP (2 × 256 ReLU by default, the paper's) of
the dimensions before it, so a sample and its log-density take one pass (``TanhFlow.sample``). The
order of the action dimensions is reversed between consecutive transforms, as in the paper.

Decision (the paper does not say; the authors' code does not condition): each transform also sees the
state's features (the actor's features extractor output), so the multi-modal shape of π can change
from state to state, as the paper's per-state policies need. With one action dimension a transform
has no other dimension to depend on: it is a state-dependent affine map (zuko's element-wise
transform), and π stays unimodal.

Per-state parameters: λ = (µ, log σ) of the base Gaussian, as for SAC; the transforms are the actor's
weights. The analyses that optimize λ per state (the amortization gap) move the base and keep the
state's transforms fixed.
"""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import Actor
from torch import nn

from sb3_iterative.distributions import FLOW_FEATURE, TanhFlow
from sb3_iterative.extras import import_extra

DEFAULT_FLOW_TRANSFORMS = 2
DEFAULT_FLOW_NET_ARCH = (256, 256)


class FlowActor(Actor):
    """SAC's actor with inverse autoregressive transforms between its Gaussian and the tanh.

    Arguments as SB3's :class:`~stable_baselines3.sac.policies.Actor` (gSDE excluded), plus:

    :param flow_transforms: the number of transforms (2, the paper's)
    :param flow_net_arch: hidden layers of each transform's masked MLP (2 × 256, the paper's)
    """

    def __init__(
        self,
        *args: Any,
        flow_transforms: int = DEFAULT_FLOW_TRANSFORMS,
        flow_net_arch: list[int] | tuple[int, ...] = DEFAULT_FLOW_NET_ARCH,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        assert isinstance(self.action_space, spaces.Box)
        self.flow_transforms = flow_transforms
        self.flow_net_arch = list(flow_net_arch)
        action_dim = self.action_space.shape[0]
        forward, reversed_order = th.arange(action_dim), th.arange(action_dim).flip(0)
        autoregressive = import_extra("zuko.flows.autoregressive", "flow", FLOW_FEATURE)
        self.flow = nn.ModuleList(
            autoregressive.MaskedAutoregressiveTransform(
                features=action_dim,
                context=self.features_dim,
                order=reversed_order if i % 2 else forward,
                hidden_features=self.flow_net_arch,
                activation=self.activation_fn,
            )
            for i in range(flow_transforms)
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(dict(flow_transforms=self.flow_transforms, flow_net_arch=self.flow_net_arch))
        return data

    def get_flow_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, TanhFlow]:
        """λ = (µ, log σ) of the base Gaussian [B, A] each, and the flow bound to the states.

        The features are extracted a second time for the flow's context (SB3's
        ``get_action_dist_params`` keeps its own): a flatten for vector observations.
        """
        mu, log_std, _ = self.get_action_dist_params(obs)
        features = self.extract_features(obs, self.features_extractor)
        transforms = import_extra("zuko.transforms", "flow", FLOW_FEATURE)
        return mu, log_std, TanhFlow(transforms.ComposedTransform(*(transform(features) for transform in self.flow)))

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        """An action per state: tanh(T(µ)) when deterministic, else tanh(T(µ + σ·ε))."""
        if not deterministic:
            return self.action_log_prob(obs)[0]
        mu, log_std, distribution = self.get_flow_params(obs)
        return distribution.mode(mu, log_std)

    def action_log_prob(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """A reparameterised action per state and its log π [B]."""
        mu, log_std, distribution = self.get_flow_params(obs)
        actions, log_prob = distribution.sample(mu, log_std, th.randn_like(mu).unsqueeze(0))
        return actions.squeeze(0), log_prob.squeeze(0)
