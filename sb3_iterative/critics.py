"""The paper's two critic architectures (Appendix A.4, Tables 5–6).

- ``"A"``: SAC's critic, SB3's :class:`ContinuousCritic` (an MLP per ensemble member,
  2 × 256 ReLU by default).
- ``"B"``: 3 × 512 ELU layers with layer normalization and highway connections
  (:class:`HighwayCritic`).

Both expose ``features_extractor`` and ``q_networks`` (each maps [features, action] to Q),
which is all :func:`sb3_iterative.objective.ensemble_q_function` needs.
"""

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

CRITIC_ARCHITECTURES = ("A", "B")
HIGHWAY_NET_ARCH = [512, 512, 512]


class HighwayLayer(nn.Module):
    """out = g ⊙ x + (1 − g) ⊙ ELU(LayerNorm(W x)), g = sigmoid(W_g x)."""

    def __init__(self, dim: int):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(dim, dim), nn.LayerNorm(dim), nn.ELU())
        self.gate = nn.Linear(dim, dim)

    def forward(self, x: th.Tensor) -> th.Tensor:
        gate = th.sigmoid(self.gate(x))
        return gate * x + (1 - gate) * self.layer(x)


def highway_q_network(input_dim: int, net_arch: list[int]) -> nn.Sequential:
    """Architecture B for one ensemble member: a first layer, then highway layers of its width."""
    if len(net_arch) == 0 or any(width != net_arch[0] for width in net_arch):
        raise ValueError(f"critic_arch='B' needs a non-empty net_arch of equal widths (highway layers), got {net_arch}")
    width = net_arch[0]
    layers: list[nn.Module] = [nn.Linear(input_dim, width), nn.LayerNorm(width), nn.ELU()]
    layers += [HighwayLayer(width) for _ in net_arch[1:]]
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class HighwayCritic(ContinuousCritic):
    """Critic ensemble of architecture B. Arguments as SB3's :class:`ContinuousCritic`;
    ``activation_fn`` is not used (the architecture fixes ELU)."""

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = True,
    ):
        # The parent builds no MLP with n_critics=0; the highway networks take their place.
        super().__init__(
            observation_space,
            action_space,
            net_arch=[],
            features_extractor=features_extractor,
            features_dim=features_dim,
            activation_fn=activation_fn,
            normalize_images=normalize_images,
            n_critics=0,
            share_features_extractor=share_features_extractor,
        )
        self.n_critics = n_critics
        input_dim = features_dim + get_action_dim(action_space)
        for idx in range(n_critics):
            q_net = highway_q_network(input_dim, net_arch)
            self.add_module(f"qf{idx}", q_net)
            self.q_networks.append(q_net)


def make_critic(critic_arch: str, **critic_kwargs: Any) -> ContinuousCritic:
    """Build the critic ensemble of architecture ``"A"`` or ``"B"``."""
    if critic_arch == "A":
        return ContinuousCritic(**critic_kwargs)
    if critic_arch == "B":
        return HighwayCritic(**critic_kwargs)
    raise ValueError(f"critic_arch must be one of {CRITIC_ARCHITECTURES}, got {critic_arch!r}")
