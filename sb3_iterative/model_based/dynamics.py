"""The learned model of the environment (paper Appendix A.5): state change and reward, Gaussian likelihoods.

Two separate networks read concat(s, a): one predicts the change of state (the next state's mean is
s + Δs), the other the reward. Each is 2 × 256, linear → layer norm → leaky ReLU, with a linear
output head initialised to zero, so the untrained model predicts "no change, reward 0". Each output
is the mean of a Gaussian whose std is one learned constant per output dimension (log σ starts at
0). Rollouts use the means: the model is deterministic. It is trained by maximum likelihood
(Gaussian negative log-likelihood) on replay transitions.
"""

import math

import torch as th
from torch import nn

MODEL_NET_ARCH = (256, 256)


def _mlp(input_dim: int, output_dim: int, net_arch: tuple[int, ...]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for width in net_arch:
        layers += [nn.Linear(input_dim, width), nn.LayerNorm(width), nn.LeakyReLU()]
        input_dim = width
    head = nn.Linear(input_dim, output_dim)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    return nn.Sequential(*layers, head)


def gaussian_nll(mean: th.Tensor, log_std: th.Tensor, target: th.Tensor) -> th.Tensor:
    """−log N(target; mean, exp(log_std)²), summed over the last dimension, averaged over the rest."""
    nll = 0.5 * ((target - mean) * th.exp(-log_std)).pow(2) + log_std + 0.5 * math.log(2 * math.pi)
    return nll.sum(dim=-1).mean()


class DynamicsModel(nn.Module):
    """s' = s + Δs(s, a) and r(s, a), each the mean of a Gaussian with a learned constant std.

    :param observation_dim: |S| (flat observations)
    :param action_dim: |A|
    :param net_arch: hidden layers of each network
    """

    def __init__(self, observation_dim: int, action_dim: int, net_arch: tuple[int, ...] = MODEL_NET_ARCH):
        super().__init__()
        self.state_net = _mlp(observation_dim + action_dim, observation_dim, net_arch)
        self.reward_net = _mlp(observation_dim + action_dim, 1, net_arch)
        self.state_log_std = nn.Parameter(th.zeros(observation_dim))
        self.reward_log_std = nn.Parameter(th.zeros(1))

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The predicted next state [..., |S|] and reward [...] (the Gaussians' means)."""
        inputs = th.cat([obs, actions], dim=-1)
        return obs + self.state_net(inputs), self.reward_net(inputs).squeeze(-1)

    def loss(self, obs: th.Tensor, actions: th.Tensor, next_obs: th.Tensor, rewards: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """The negative log-likelihoods of the observed next states and rewards, per transition.

        :param rewards: [B] or [B, 1]
        :return: the state loss and the reward loss (maximum likelihood minimises their sum)
        """
        obs, next_obs = obs.float(), next_obs.float()  # float32, as the policy's networks see observations
        next_mean, reward_mean = self(obs, actions)
        state_loss = gaussian_nll(next_mean, self.state_log_std, next_obs)
        reward_loss = gaussian_nll(reward_mean.unsqueeze(-1), self.reward_log_std, rewards.reshape(-1, 1))
        return state_loss, reward_loss
