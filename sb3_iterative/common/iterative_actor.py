"""The iterative amortized actor f_φ (paper Algorithm 2, Eq. 11–12) and its training loss, shared by
IterativeSAC and IterativeTQC."""

import functools
import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
    create_mlp,
)
from stable_baselines3.common.type_aliases import PyTorchObs
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN
from torch import nn
from torch.nn import functional as F

from sb3_iterative.common.options import IterativeOptions
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.objective import (
    ObjectiveEstimate,
    ReadiesForCompiled,
    ValueEstimate,
    noise_plan,
    objective,
    objective_gradient,
)

# (x − mean) / (std + 1e−7) in the authors' code; layer_norm puts its epsilon under the root
NORMALIZATION_EPSILON = 1e-14
# Seed of the samples behind ∇_λ J (and of a random λ_0) when acting deterministically
DETERMINISTIC_SEED = 0
# p of Andrychowicz et al. (2016)'s gradient preprocessing: log|g| / p, clipped below at −1 (|g| < e^−p)
MAGNITUDE_SCALE = 10.0


@dataclass
class IterativeTrace:
    """The path of one policy optimization, λ_0 → λ_K, for a batch of states.

    ``lambdas[k]`` is (µ_k, log σ_k), each [B, A], for k = 0..K; ``estimates[k]`` is J and
    ∇_λ J at λ_k for k = 0..K−1 (the input of update k + 1). The caller evaluates λ_K with
    the critic it needs (the online one for the actor's loss, the target one for the critic's
    target). ``first_trained`` is the first λ that depends on the actor's parameters: 1 for
    the iterative actor (λ_0 is fixed), 0 for the direct one (λ_0 = f_φ(s)). ``distribution`` is
    the policy's family bound to the states (SAC's tanh-Gaussian, or the flow actor's flow).
    """

    lambdas: list[tuple[th.Tensor, th.Tensor]]
    estimates: list[ObjectiveEstimate]
    gates: list[th.Tensor]
    first_trained: int
    distribution: PolicyDistribution = TANH_GAUSSIAN

    @property
    def mu(self) -> th.Tensor:
        return self.lambdas[-1][0]

    @property
    def log_std(self) -> th.Tensor:
        return self.lambdas[-1][1]


class FirstLayer(NamedTuple):
    """f_φ's first layer split at its input (:meth:`IterativeActor.split_first_layer`)."""

    state_share: th.Tensor  # W_s·features + b [B, width]
    input_weight_t: th.Tensor  # W_x, the columns of the normalized blocks, transposed [4A, width]


def actor_loss(
    trace: IterativeTrace,
    value_estimate: ValueEstimate,
    noise: th.Tensor,
    ent_coef: th.Tensor | float,
    beta: float,
) -> tuple[th.Tensor, ObjectiveEstimate]:
    """The actor's loss, the average over trained λ_k of −J(s, λ_k), and J at λ_K.

    Iterative actor (Algorithm 2, one-step truncated): ∂J(λ_k)/∂φ = ∇_λ J(λ_k) · ∂λ_k/∂φ, and
    ∇_λ J(λ_k) is already known, the input of update k + 1 (for λ_K it is computed here). The
    loss is backpropagated through f_φ alone, with no second pass through the critic; since
    λ_{k−1} entered update k detached, no gradient flows along the chain of iterations.
    Direct actor (and the flow actor): nothing to share, so −J(s, f_φ(s)) is backpropagated through
    the critic by autograd, exactly as SAC does.

    :param trace: the optimization, with λ attached to the actor's graph
    :param value_estimate: Q̂_β bound to the observations
    :param noise: ε for the estimate at λ_K [N, B, A]
    :return: the loss to backpropagate (its gradient is that of −mean J) and the estimate at λ_K
    """
    if not trace.estimates:
        final = objective(value_estimate, trace.mu, trace.log_std, noise, ent_coef, beta, trace.distribution)
        return -final.value.mean(), final
    final = objective_gradient(value_estimate, trace.mu, trace.log_std, noise, ent_coef, beta)
    evaluations = [*trace.estimates, final][trace.first_trained :]
    terms = [
        (estimate.gradient[0] * mu).sum(dim=-1) + (estimate.gradient[1] * log_std).sum(dim=-1)
        for (mu, log_std), estimate in zip(trace.lambdas[trace.first_trained :], evaluations, strict=True)
    ]
    surrogate = functools.reduce(operator.add, terms)
    return -surrogate.mean() / len(evaluations), final


def soft_clamp(x: th.Tensor, low: th.Tensor | float, high: th.Tensor | float) -> th.Tensor:
    """A smooth clamp into (low, high) built from softplus, as the authors bound log σ."""
    x = low + F.softplus(x - low)
    return high - F.softplus(high - x)


class IterativeActor(BaseModel):
    """The iterative amortized optimizer f_φ (paper Eq. 11–12, Algorithm 2).

    From λ_0 = (µ = 0, log σ = log ``init_std``), K times::

        (δ, ω) = f_φ(s, λ_{k−1}, ∇_λ J(s, λ_{k−1})),    λ_k = ω ⊙ λ_{k−1} + (1 − ω) ⊙ δ

    with an update δ and a sigmoid gate ω for both µ and log σ. The four action-sized inputs
    (µ, log σ, ∇_µ J, ∇_{log σ} J) are each normalized per state (``input_normalization``, :meth:`normalize_inputs`);
    with ``gradient_magnitude`` f_φ also reads each gradient's log-magnitude and sign (:meth:`gradient_magnitudes`).

    :param observation_space: Observation space
    :param action_space: Action space (Box)
    :param net_arch: hidden layers of f_φ (2 × 256, as SAC's actor, by default)
    :param features_extractor: Network to extract features
    :param features_dim: Number of features
    :param activation_fn: Activation function of the hidden layers
    :param normalize_images: Whether to normalize images or not
    :param options: the optimizer's settings (:class:`~sb3_iterative.common.options.IterativeOptions`: K, N,
        λ_0, the extra inputs and the update's form), read at every optimization (the policy replaces them when
        they change after training)
    """

    action_space: spaces.Box
    ent_coef: th.Tensor  # a buffer: α of J while acting
    log_std_min: th.Tensor  # buffers: SAC's bounds of log σ
    log_std_max: th.Tensor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        options: IterativeOptions | None = None,
    ):
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.options = IterativeOptions() if options is None else options
        self.action_dim = get_action_dim(self.action_space)

        # [s, µ, log σ, ∇_µ J, ∇_{log σ} J (, ∇_µ J and ∇_{log σ} J as log-magnitudes and signs)]
        input_dim = features_dim + (8 if self.options.gradient_magnitude else 4) * self.action_dim
        self.latent_pi = nn.Sequential(*create_mlp(input_dim, -1, net_arch, activation_fn))
        last_layer_dim = net_arch[-1] if len(net_arch) > 0 else input_dim
        # [δ_µ, δ_log σ, ω_µ, ω_log σ]; zero-initialised, so every gate starts at 0.5
        self.update_and_gate = nn.Linear(last_layer_dim, 4 * self.action_dim)
        nn.init.zeros_(self.update_and_gate.weight)
        nn.init.zeros_(self.update_and_gate.bias)
        # α of J while acting; the algorithm keeps it equal to its entropy coefficient
        self.register_buffer("ent_coef", th.ones(()))
        # SAC's bounds of log σ as 0-dim tensors on the actor's device (exact in every dtype; not saved): arithmetic
        # with a Python number wraps and casts it on every call, which triples the cost of the operation at acting sizes
        self.register_buffer("log_std_min", th.tensor(float(LOG_STD_MIN)), persistent=False)
        self.register_buffer("log_std_max", th.tensor(float(LOG_STD_MAX)), persistent=False)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            dict(
                net_arch=self.net_arch,
                features_dim=self.features_dim,
                activation_fn=self.activation_fn,
                features_extractor=self.features_extractor,
                options=self.options,
            )
        )
        return data

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        """Not available: the iterative actor cannot act alone (SB3's ``model.actor.predict`` works for SAC's actor)."""
        raise TypeError(
            "IterativeActor.predict: the iterative actor cannot act alone. It optimizes each action distribution on "
            "J, which reads the critic ensemble (and α), so acting needs the whole policy: use model.predict(obs) "
            "or model.policy.predict(obs). Saving and loading the actor alone (actor.save / IterativeActor.load) works."
        )

    def initial_parameters(
        self, batch_size: int, generator: th.Generator | None = None, shared: bool = False
    ) -> tuple[th.Tensor, th.Tensor]:
        """λ_0, each [B, A]: µ = 0 (or µ ~ N(0, s²), s = ``init_mu_std``, with a random start), log σ = log ``init_std``.

        :param generator: the random generator of a random start (None: torch's global one)
        :param shared: one random start for the whole batch (deterministic acting)
        """
        if self.options.init_mu_std > 0:
            shape = (1 if shared else batch_size, self.action_dim)
            mu = th.randn(shape, generator=generator, device=self.device).mul_(self.options.init_mu_std)
            mu = mu.expand(batch_size, -1)
        else:
            mu = th.zeros(batch_size, self.action_dim, device=self.device)
        log_std = th.full_like(mu, math.log(self.options.init_std))
        return mu, log_std

    def normalize_inputs(self, blocks: th.Tensor) -> th.Tensor:
        """Normalize each action-sized input block [B, 4, A] per state, as ``input_normalization`` says.

        ``"layer"`` (the paper's): with |A| > 1, each block is standardized across action dimensions (a layer
        norm without affine parameters, the paper's "layer normalization individually to each of the inputs").
        That keeps the block's pattern across dimensions and erases its mean and scale: with |A| = 2 a block
        (x₁, x₂) becomes (1, −1), (−1, 1) or (0, 0), the sign of x₁ − x₂ alone. With |A| = 1 it would zero
        every input, so each value goes through symlog there.

        ``"symlog"``: every value goes through symlog(x) = sign(x)·log(1 + |x|), whatever |A|. It keeps the
        sign of each element, hence each block's mean and direction, and compresses its magnitude, which scales
        with the rewards; it commutes with reflecting an action axis (x_i → −x_i), which the layer norm does not.
        """
        if self.action_dim == 1 or self.options.input_normalization == "symlog":
            return th.sign(blocks) * th.log1p(blocks.abs())
        return F.layer_norm(blocks, (self.action_dim,), eps=NORMALIZATION_EPSILON)

    @staticmethod
    def gradient_magnitudes(gradient: tuple[th.Tensor, th.Tensor]) -> th.Tensor:
        """∇_µ J and ∇_{log σ} J per action dimension as Andrychowicz et al. (2016) feed a learned optimizer
        [B, 4A]: (log|g| / p, sign g) where |g| ≥ e^−p, else (−1, e^p·g), with p = 10. The normalized inputs
        keep each gradient's pattern across action dimensions but not its scale, nor (with a layer norm)
        its mean across them; this keeps both, element by element."""
        gradients = th.cat(gradient, dim=1)
        magnitude = gradients.abs()
        large = magnitude >= math.exp(-MAGNITUDE_SCALE)
        log_magnitude = th.where(large, magnitude.log() / MAGNITUDE_SCALE, -1.0)
        sign = th.where(large, gradients.sign(), gradients * math.exp(MAGNITUDE_SCALE))
        return th.cat([log_magnitude, sign], dim=1)

    def split_first_layer(self, features: th.Tensor) -> FirstLayer:
        """f_φ's first layer split at its input, W·[s, x] + b = (W_s·s + b) + W_x·x: the state's share
        is the same in every iteration, so :meth:`optimize` computes it once per batch and
        :meth:`update` adds the rest."""
        first = self.latent_pi[0] if len(self.latent_pi) > 0 else self.update_and_gate
        assert isinstance(first, nn.Linear)
        weight = first.weight
        return FirstLayer(F.linear(features, weight[:, : self.features_dim], first.bias), weight[:, self.features_dim :].t())

    def update(
        self,
        first_layer: FirstLayer,
        mu: th.Tensor,
        log_std: th.Tensor,
        estimate: ObjectiveEstimate,
    ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """One gated update λ_k = ω ⊙ λ_{k−1} + (1 − ω) ⊙ δ (Eq. 12).

        f_φ reads the state (its share of the first layer, from :meth:`split_first_layer`) and the
        normalized (µ, log σ, ∇_µ J, ∇_{log σ} J), with ``gradient_magnitude`` the gradients' log-magnitudes and signs.

        :return: µ_k, log σ_k and the gates ω [B, 2A]
        """
        blocks = th.stack([mu, log_std, *estimate.gradient], dim=1)
        inputs = self.normalize_inputs(blocks).flatten(1)
        if self.options.gradient_magnitude:
            inputs = th.cat([inputs, self.gradient_magnitudes(estimate.gradient)], dim=1)
        hidden = th.addmm(first_layer.state_share, inputs, first_layer.input_weight_t)
        if len(self.latent_pi) > 0:
            for layer in itertools.islice(self.latent_pi, 1, None):
                hidden = layer(hidden)
            hidden = self.update_and_gate(hidden)
        # split_with_sizes: Tensor.split's Python wrapper costs as much again at acting sizes
        sizes = [self.action_dim, self.action_dim, 2 * self.action_dim]
        update_mu, update_log_std, gate_logits = hidden.split_with_sizes(sizes, dim=1)
        if self.options.residual_update:  # δ = λ_{k−1} + Δ: a step from where the optimization is
            update_mu, update_log_std = update_mu + mu, update_log_std + log_std
        gate = th.sigmoid(gate_logits)
        gate_mu, gate_log_std = gate.chunk(2, dim=1)
        # ω ⊙ λ + (1 − ω) ⊙ δ
        mu = th.lerp(update_mu, mu, gate_mu)
        log_std = th.lerp(soft_clamp(update_log_std, self.log_std_min, self.log_std_max), log_std, gate_log_std)
        return mu, log_std, gate

    def optimize(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
        with_values: bool = True,
        shared_noise: bool = False,
        initial: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> IterativeTrace:
        """Algorithm 2: K gated updates of λ from λ_0, each fed the state, λ and ∇_λ J.

        λ and ∇_λ J enter each update detached, so a loss on λ_k trains f_φ through update k
        alone. Under ``torch.no_grad()`` (acting, the critic's target) no graph is built.

        :param obs: a batch of B observations
        :param value_estimate: Q̂_β bound to ``obs`` (``IterativeSACPolicy.value_estimate``)
        :param ent_coef: α of J
        :param beta: the pessimism β of J
        :param noise: ε for the K estimates of ∇_λ J [K, N, B, A]; drawn here when None
        :param generator: the random generator for the noise drawn here (None: torch's global one)
        :param with_values: estimate J itself at each λ_k, not only ∇_λ J (training logs it)
        :param shared_noise: draw one set of noise (and one random λ_0) for the whole batch (deterministic
            acting: an observation's λ_K then does not depend on the rest of the batch)
        :param initial: λ_0 = (µ, log σ) [B, A] each, constants (a warm start); None: :meth:`initial_parameters`'s
            (drawn from ``generator`` after the noise, with a random start)
        """
        assert self.features_extractor is not None
        features = self.extract_features(obs, self.features_extractor)
        first_layer = self.split_first_layer(features)
        batch_size = features.shape[0]
        if noise is None:
            noise = self.draw_noise(batch_size, generator, shared_noise)
        mu, log_std = self.initial_parameters(batch_size, generator, shared_noise) if initial is None else initial
        trace = IterativeTrace(lambdas=[(mu, log_std)], estimates=[], gates=[], first_trained=1, distribution=TANH_GAUSSIAN)
        step_noise = noise.unbind()  # the K slices in one operation rather than one each
        for k in range(self.options.n_iterations):
            estimate = objective_gradient(value_estimate, mu, log_std, step_noise[k], ent_coef, beta, with_values)
            mu, log_std, gate = self.update(first_layer, detached(mu), detached(log_std), estimate)
            trace.estimates.append(estimate)
            trace.lambdas.append((mu, log_std))
            trace.gates.append(gate)
        return trace

    def draw_noise(self, batch_size: int, generator: th.Generator | None = None, shared: bool = False) -> th.Tensor:
        """Standard normal ε for the K estimates of ∇_λ J [K, N, B, A] (the noise plan's, :func:`noise_plan`).

        :param generator: the random generator (None: torch's global one)
        :param shared: one set for the whole batch
        """
        return noise_plan(
            self.options.n_iterations,
            self.options.n_action_samples,
            batch_size,
            self.action_dim,
            generator,
            shared,
            self.device,
        )

    def acting_draws(
        self, batch_size: int, deterministic: bool, initial: tuple[th.Tensor, th.Tensor] | None
    ) -> tuple[th.Tensor, tuple[th.Tensor, th.Tensor] | None]:
        """ε for the K estimates of ∇_λ J while acting [K, N, B, A], and λ_0 when it is random (else
        ``initial`` as given: None for the fixed λ_0, built inside the optimization).

        Deterministic actions draw them from a private generator with a fixed seed, one set shared by
        the whole batch: an observation always gets the same action, alone or anywhere in a batch of
        any size, and evaluating does not move torch's global random state (as with SAC's actor).
        """
        generator = th.Generator(device=self.device).manual_seed(DETERMINISTIC_SEED) if deterministic else None
        noise = self.draw_noise(batch_size, generator, shared=deterministic)
        if initial is None and self.options.init_mu_std > 0:
            initial = self.initial_parameters(batch_size, generator, shared=deterministic)
        return noise, initial

    def optimized_parameters(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor,
        initial: tuple[th.Tensor, th.Tensor] | None = None,
    ) -> tuple[th.Tensor, th.Tensor]:
        """λ_K = (µ_K, log σ_K) for acting: :meth:`optimize` without J's values, only its gradients
        (the part of acting that ``compile_acting`` compiles: tensors in, tensors out)."""
        trace = self.optimize(obs, value_estimate, ent_coef, beta, noise, with_values=False, initial=initial)
        return trace.mu, trace.log_std

    def forward(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate,
        beta: float,
        deterministic: bool = False,
        ent_coef: th.Tensor | float | None = None,
        initial: tuple[th.Tensor, th.Tensor] | None = None,
        optimized_parameters: Callable[..., tuple[th.Tensor, th.Tensor]] | None = None,
    ) -> th.Tensor:
        """Act: optimize λ for ``obs``, then return tanh(µ_K) or a sample of π(·|s; λ_K).

        :param ent_coef: α of J (None: the algorithm's, kept in ``self.ent_coef``)
        :param initial: λ_0 (a warm start); None: the fixed λ_0
        :param optimized_parameters: :meth:`optimized_parameters` compiled (None: as it is)
        """
        batch_size = observation_batch_size(obs)
        noise, initial = self.acting_draws(batch_size, deterministic, initial)
        if optimized_parameters is not None and isinstance(value_estimate, ReadiesForCompiled):
            # after the acting draws: a model's rollouts draw their noise in the order eager acting does
            value_estimate.before_compiled(
                self.options.n_iterations, self.options.n_action_samples, batch_size, self.action_dim
            )
        mu, log_std = (optimized_parameters or self.optimized_parameters)(
            obs, value_estimate, self.ent_coef if ent_coef is None else ent_coef, beta, noise, initial
        )
        if not all_finite(mu, log_std):
            raise RuntimeError(
                "The iterative actor produced non-finite action parameters: the value estimate returned non-finite "
                "values or gradients while the actor optimized λ. Check the critics (and a model-based estimate's model, "
                "and the rewards) for NaN or inf."
            )
        if deterministic:
            return TANH_GAUSSIAN.mode(mu, log_std)
        return TANH_GAUSSIAN.reparameterize(mu, log_std, th.randn_like(mu))[2]


def all_finite(*tensors: th.Tensor) -> bool:
    """Whether every element of the tensors is finite. x − x is NaN exactly where x is ±inf or NaN:
    three cheap operations per tensor, where ``isfinite(x).all()`` costs twice as much at acting sizes."""
    return not any(th.isnan(x - x).any() for x in tensors)


def detached(x: th.Tensor) -> th.Tensor:
    """``x`` cut from the graph; as it is when it has none (acting, the critic's target): one operation less."""
    return x.detach() if x.requires_grad else x


def observation_batch_size(obs: Any) -> int:
    """B of a batch of observations (a tensor or an array, or a dict of them)."""
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)
