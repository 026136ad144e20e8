"""The paper's two critic architectures (Appendix A.4, Tables 5–6).

- ``"A"``: SAC's critic, SB3's :class:`ContinuousCritic` (an MLP per ensemble member,
  2 × 256 ReLU by default).
- ``"B"``: 3 × 512 ELU layers with layer normalization and highway connections
  (:class:`HighwayCritic`).

Both expose ``features_extractor`` and ``q_networks`` (each maps [features, action] to Q), as
sb3-contrib TQC's quantile critic does (each maps it to quantiles). :class:`EnsembleQ` binds any
of them to a batch of observations for the objective J.
"""

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

import torch as th
from gymnasium import spaces
from sb3_contrib.common.torch_layers import BatchRenorm
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from sb3_iterative.objective import ENSEMBLE_STD, EnsembleValue, autograd_action_gradient
from sb3_iterative.pessimism import Pessimism

CRITIC_ARCHITECTURES = ("A", "B")


class CriticEnsemble(Protocol):
    """What J and the algorithms read of a critic ensemble: SB3's critics (one Q value per member),
    sb3-contrib TQC's (quantiles per member), CrossQ's (batch-renormalized), or any module like them.
    Each member maps [features, action] to its outputs."""

    features_extractor: BaseFeaturesExtractor
    optimizer: th.optim.Optimizer

    @property
    def n_critics(self) -> int: ...

    @property
    def q_networks(self) -> Sequence[nn.Module]: ...

    def __call__(self, obs: th.Tensor, actions: th.Tensor) -> Any:
        """The members' outputs for a batch of (s, a), in the critic's own form."""
        ...

    def extract_features(self, obs: PyTorchObs, features_extractor: BaseFeaturesExtractor) -> th.Tensor: ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def set_training_mode(self, mode: bool) -> None: ...


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


class _Activation(NamedTuple):
    """An activation the fast path knows: applied in place (the pre-activation is not kept), and
    the backward pass through it from its output (ReLU's as autograd computes it, with no mask tensor)."""

    forward: Callable[[th.Tensor], th.Tensor]
    backward: Callable[[th.Tensor, th.Tensor], th.Tensor]  # (∂/∂output, output) -> ∂/∂input


_ACTIVATIONS = {
    nn.ReLU: _Activation(th.relu_, lambda grad, out: th.ops.aten.threshold_backward(grad, out, 0.0)),
    nn.Tanh: _Activation(th.tanh_, lambda grad, out: grad * (1 - out * out)),
}


class _Layer(NamedTuple):
    """One layer of every member, batched, and the activation after it."""

    weight: th.Tensor  # [n, out, in]
    weight_t: th.Tensor  # its transpose [n, in, out] (a view, made once rather than per product)
    bias: th.Tensor  # [n, 1, out]
    activation: _Activation | None


# One member of an ensemble as the fast path reads it: each Linear layer's (weight, bias), each activation's class
_MemberLayers = list[tuple[th.Tensor, th.Tensor] | type[nn.Module]]


def _member_layers(q_net: nn.Module) -> _MemberLayers | None:
    """One member as its Linear layers and activations, with each batch renormalization in evaluation mode
    folded into the Linear layer after it (there it is an affine map of its input, x ↦ a ⊙ x + c: CrossQ's
    critics on their running statistics); None for anything else (a renormalization on batch statistics)."""
    if not isinstance(q_net, nn.Sequential):
        return None
    layers: _MemberLayers = []
    pending: tuple[th.Tensor, th.Tensor] | None = None  # (a, c) of a renormalization before its Linear layer
    for module in q_net:
        if isinstance(module, BatchRenorm) and not module.training and pending is None:
            running_mean, running_var = module.get_buffer("ra_mean"), module.get_buffer("ra_var")
            scale = th.rsqrt(running_var + module.eps)
            a = module.scale * scale if module.affine else scale
            c = (module.bias if module.affine else 0.0) - a * running_mean
            pending = (a, c)
        elif isinstance(module, nn.Linear) and module.bias is not None:
            weight: th.Tensor = module.weight
            bias: th.Tensor = module.bias
            if pending is not None:
                a, c = pending
                weight, bias, pending = weight * a, bias + weight @ c, None
            layers.append((weight, bias))
        elif type(module) in _ACTIVATIONS and pending is None:
            layers.append(type(module))
        else:
            return None
    return layers if pending is None else None


def _stack_mlp_members(q_networks: Sequence[nn.Module]) -> list[_Layer] | None:
    """The ensemble as one batched MLP, layer by layer; None unless every member is Linear layers with
    known activations (and renormalizations on running statistics, folded), alike."""
    members = [_member_layers(q_net) for q_net in q_networks]
    if not members or any(layers is None for layers in members):
        return None
    kinds = [[layer if isinstance(layer, type) else nn.Linear for layer in layers or []] for layers in members]
    if any(member_kinds != kinds[0] for member_kinds in kinds):
        return None
    stacked: list[_Layer] = []
    for position, kind in enumerate(kinds[0]):
        if kind is nn.Linear:
            linears = [layers[position] for layers in members if layers is not None]
            weight = th.stack([linear[0] for linear in linears if isinstance(linear, tuple)])
            bias = th.stack([linear[1] for linear in linears if isinstance(linear, tuple)]).unsqueeze(1)
            stacked.append(_Layer(weight, weight.transpose(1, 2), bias, None))
        elif stacked and stacked[-1].activation is None:
            stacked[-1] = stacked[-1]._replace(activation=_ACTIVATIONS[kind])
        else:
            return None
    if not stacked or stacked[-1].activation is not None or any(layer.activation is None for layer in stacked[:-1]):
        return None
    return stacked


class _StackedMembers(NamedTuple):
    """An MLP ensemble as batched tensors, for every binding that reads one :class:`CriticStacks`."""

    layers: list[_Layer]
    action_weight_t: th.Tensor  # the first layer's action columns, transposed and contiguous [n, A, H]


def _stacked_members(critic: CriticEnsemble, n_features: int) -> _StackedMembers | None:
    """The critic's members stacked now (:func:`_stack_mlp_members`), with the first layer's action columns."""
    # ordinary tensors even when stacked while acting (inference mode): a later binding under autograd may read
    # them (CriticStacks). inference_mode(False) turns grad mode on, so no_grad comes after it.
    with th.inference_mode(False), th.no_grad():
        layers = _stack_mlp_members(critic.q_networks)
        if layers is None:
            return None
        return _StackedMembers(layers, layers[0].weight[:, :, n_features:].transpose(1, 2).contiguous())


def _member_tensors(critic: CriticEnsemble) -> list[th.Tensor]:
    """Every parameter and buffer of the critic's members: what a stack of them is made from."""
    return [tensor for q_net in critic.q_networks for tensor in (*q_net.parameters(), *q_net.buffers())]


def _fingerprint(critic: CriticEnsemble, n_features: int, tensors: list[th.Tensor]) -> tuple[Any, ...]:
    """What a stack of the critic's members is derived from: the members' ``tensors`` (:func:`_member_tensors`) as the
    tensors they are (their memory) and as they are now (torch's version counter, which every in-place change
    advances: an optimizer step, an edit under ``torch.no_grad()``, ``load_state_dict``), every module's mode (a
    renormalization folds only in evaluation mode) and the features' width."""
    modes = tuple(module.training for q_net in critic.q_networks for module in q_net.modules())
    return n_features, modes, tuple((tensor.data_ptr(), tensor._version) for tensor in tensors)


class _Stack(NamedTuple):
    """A kept stack, the fingerprint it was made at, and the tensors it was made from (held, so that their memory
    is not handed to a new tensor that could then pass for them)."""

    fingerprint: tuple[Any, ...]
    sources: list[th.Tensor]
    members: _StackedMembers | None


class CriticStacks:
    """Critics' members stacked for the hand-written gradient, kept from one binding of :class:`EnsembleQ` to the
    next and checked against the critics before each use.

    The policy's value estimator owns one (``policy.estimator.stacks``, every kind of
    :class:`sb3_iterative.value_estimators.ValueEstimator`) and lends it to every binding of the critics it makes,
    so that one ``predict`` after another stacks the weights once. A kept stack serves a binding only while the
    critic's members are the tensors it was made from, unchanged since, in the same modes (:func:`_fingerprint`);
    otherwise the binding stacks them again. Optimizer steps, Polyak updates, loads, moves, resets and edits under
    ``torch.no_grad()`` all advance the tensors' version counters or replace the tensors. Edits through
    ``tensor.data`` do neither (torch keeps no count of them, as autograd does not see them): change a critic's
    weights under ``torch.no_grad()`` instead, or call :meth:`clear`.
    """

    def __init__(self) -> None:
        self._stacks: weakref.WeakKeyDictionary[Any, _Stack] = weakref.WeakKeyDictionary()

    def stacked(self, critic: CriticEnsemble, n_features: int) -> _StackedMembers | None:
        """The critic's members stacked: kept from an earlier call while the critic is as it was then, or stacked now
        and kept."""
        tensors = _member_tensors(critic)
        fingerprint = _fingerprint(critic, n_features, tensors)
        kept = self._stacks.get(critic)
        if kept is None or kept.fingerprint != fingerprint:
            sources = [tensor.detach() for tensor in tensors]
            kept = _Stack(fingerprint, sources, _stacked_members(critic, n_features))
            self._stacks[critic] = kept
        return kept.members

    def clear(self) -> None:
        """Forget every kept stack (memory only: a kept stack is never used stale)."""
        self._stacks.clear()

    def __len__(self) -> int:
        return len(self._stacks)


class _BatchedMembers(NamedTuple):
    """An MLP ensemble as batched tensors, for one binding of :class:`EnsembleQ`."""

    layers: list[_Layer]
    state_share: th.Tensor  # W_s·features + b of the first layer [n, B, H]
    action_weight_t: th.Tensor  # W_a, the first layer's action columns, transposed [n, A, H]


class EnsembleQ(EnsembleValue):
    """The critic ensemble bound to a batch of B observations: the model-free value estimate of J.

    Calling it gives the ensemble's outputs [N, B, n_outputs] for actions [N, B, A] through the
    critic's own modules (autograd works through it): one Q value per member (SB3's critics), or
    each member's quantiles, member-major (TQC's critics), which ``pessimism`` makes Q̂_β.
    :meth:`value_and_action_gradient` (J's path) and :meth:`action_gradient` give Q̂_β or the
    members' outputs, and ∂Q̂_β/∂a, without autograd when every ensemble member is an MLP of Linear
    layers with ReLU or Tanh (architecture A; CrossQ's critics on their running statistics, each batch
    renormalization folded into the Linear layer after it): the members run as one batched matrix product
    per layer, the state's share of the first layer is computed once per binding (it does not
    change across iterations or samples), and the backward pass computes the action columns
    only. Other critics (architecture B) take autograd's path.

    The observations' features are a constant of J: the actor's gradients stop at the action.
    The batched weights are a snapshot taken at the first action gradient: bind again
    after the critic is updated. ``stacks`` (the policy's) lends a snapshot made by an earlier binding
    of the same critic while the critic is unchanged since; without it each binding stacks its own.
    """

    def __init__(
        self,
        critic: CriticEnsemble,
        obs: PyTorchObs,
        pessimism: Pessimism = ENSEMBLE_STD,
        stacks: CriticStacks | None = None,
    ):  # the members' outputs come from __call__
        self.critic = critic
        self.pessimism = pessimism
        self.stacks = stacks
        with th.no_grad():
            self.features = critic.extract_features(obs, critic.features_extractor)
        self._bound = False  # the batched members are made on first use (a lazy attribute torch.compile can trace)
        self._batched: _BatchedMembers | None = None

    @property
    def _members(self) -> _BatchedMembers | None:
        """The batched members with this binding's state share, made on the first action gradient
        only: a binding that is just called (the critic's target, the direct
        actor) never pays for it. None when a member is not a plain MLP (autograd's path)."""
        if not self._bound:
            self._batched = self._batch_members()
            self._bound = True
        return self._batched

    @property
    def hand_written_gradient(self) -> bool:
        """Whether the action gradient is the hand-written batched backward (no autograd)."""
        return self._members is not None

    def prepare(self) -> None:
        """Make the batched members now: before a compiled region, which then reads them as inputs
        instead of stacking the weights on every call."""
        _ = self._members

    def _batch_members(self) -> _BatchedMembers | None:
        if self.critic.n_critics == 0:
            return None
        n_features = self.features.shape[1]
        # a compiled graph stacks the weights itself: the kept stacks are not traceable
        if self.stacks is None or th.compiler.is_compiling():
            stacked = _stacked_members(self.critic, n_features)
        else:
            stacked = self.stacks.stacked(self.critic, n_features)
        if stacked is None:
            return None
        with th.no_grad():
            first = stacked.layers[0]
            features = self.features.unsqueeze(0).expand(first.weight.shape[0], -1, -1)
            # W_s·features + b [n, B, H]: the first layer's state columns, once per binding
            state_share = th.baddbmm(first.bias, features, first.weight_t[:, :n_features])
            return _BatchedMembers(stacked.layers, state_share, stacked.action_weight_t)

    def __call__(self, actions: th.Tensor) -> th.Tensor:
        n_samples, batch_size, _ = actions.shape
        # [N, B, F + A] flattened to [N·B, F + A]: the networks see an ordinary 2-D batch
        inputs = th.cat([self.features.expand(n_samples, batch_size, -1), actions], dim=-1)
        inputs = inputs.reshape(n_samples * batch_size, -1)
        q_values = th.cat([q_net(inputs) for q_net in self.critic.q_networks], dim=1)
        return q_values.reshape(n_samples, batch_size, -1)

    def value_and_action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        members = self._members
        if members is None:
            return super().value_and_action_gradient(actions, beta)
        _, q_hat, grad = self._batched_backward(members, actions, beta)
        return q_hat, grad

    def action_gradient(self, actions: th.Tensor, beta: float) -> tuple[th.Tensor, th.Tensor]:
        """The members' outputs [N, B, n_outputs] (rather than Q̂_β) and ∂Q̂_β/∂a [N, B, A]; no graph is built."""
        members = self._members
        if members is None:
            return autograd_action_gradient(self, actions, beta, self.pessimism)
        q_values, _, grad = self._batched_backward(members, actions, beta)
        return q_values, grad

    def _batched_backward(
        self, members: _BatchedMembers, actions: th.Tensor, beta: float
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """The members' outputs [N, B, n_outputs], Q̂_β [N, B] and ∂Q̂_β/∂a [N, B, A], by hand."""
        layers, state_share, action_weight_t = members
        n_samples, batch_size, action_dim = actions.shape
        n_critics = action_weight_t.shape[0]
        with th.no_grad():
            # forward, members batched: [n, N·B, width] per layer
            if n_samples > 1:
                state_share = state_share.repeat(1, n_samples, 1)
            x = actions.reshape(1, n_samples * batch_size, action_dim).expand(n_critics, -1, -1)
            out = th.baddbmm(state_share, x, action_weight_t)
            outputs = []  # of each activation, with its backward pass
            for position, layer in enumerate(layers):
                if position > 0:
                    out = th.baddbmm(layer.bias, out, layer.weight_t)
                if layer.activation is not None:
                    out = layer.activation.forward(out)
                    outputs.append((layer.activation.backward, out))
            n_outputs = out.shape[-1]  # per member: 1 Q value, or its quantiles
            q_values = out.transpose(0, 1).reshape(n_samples, batch_size, n_critics * n_outputs)
            q_hat, weights = self.pessimism.value_and_weights(q_values, beta)

            # backward from ∂Q̂/∂(each output) [n, N·B, n_outputs] to the action columns of the first layer
            grad = weights.reshape(-1, n_critics, n_outputs).transpose(0, 1)
            for position in range(len(layers) - 1, 0, -1):
                weight = layers[position].weight
                # a last layer with one output: its backward is an outer product, a broadcast
                grad = grad * weight if weight.shape[1] == 1 else th.bmm(grad, weight)
                backward, out = outputs[position - 1]
                grad = backward(grad, out)
            # [n, A, H] @ [n, H, N·B]: the action columns' product with the small dimension outermost
            grad = th.bmm(action_weight_t, grad.transpose(1, 2)).sum(dim=0).t()
        return q_values, q_hat, grad.reshape(n_samples, batch_size, action_dim)


def make_critic(critic_arch: str, **critic_kwargs: Any) -> ContinuousCritic:
    """Build the critic ensemble of architecture ``"A"`` or ``"B"``."""
    if critic_arch == "A":
        return ContinuousCritic(**critic_kwargs)
    if critic_arch == "B":
        return HighwayCritic(**critic_kwargs)
    raise ValueError(f"critic_arch must be one of {CRITIC_ARCHITECTURES}, got {critic_arch!r}")
