"""The iterative part of an actor-critic policy (:class:`IterativePolicy`), placed before SB3's
:class:`SACPolicy` or sb3-contrib's :class:`TQCPolicy` or :class:`CrossQPolicy` in the bases."""

import contextlib
import inspect
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.torch_layers import (
    BaseFeaturesExtractor,
)
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule

from sb3_iterative.common.amortizers import (
    Amortizer,
    BaseAmortizer,
    DirectActor,
    amortizer_class,
    unset_keywords,
)
from sb3_iterative.common.iterative_actor import IterativeActor, IterativeTrace
from sb3_iterative.common.options import (
    IterativeOptions,
    OptionProperty,
    Unsupported,
    check_base_keywords,
    check_count,
    check_supported,
    split_keywords,
)
from sb3_iterative.critics import CRITIC_ARCHITECTURES, HIGHWAY_NET_ARCH, CriticEnsemble, EnsembleQ, make_critic
from sb3_iterative.objective import ValueEstimate, noise_plan
from sb3_iterative.pessimism import EnsembleStd, Pessimism
from sb3_iterative.value_estimators import ValueEstimator, estimator_option_names, value_estimator_class

# The policy's own keywords besides the actor, the optimizer's settings and the kinds' own, as its constructor's
# parameters save them
POLICY_KEYWORDS = ("beta_collect", "critic_arch", "compile_acting", "value_estimator")
# Seed of the value estimate's own samples (a model rollout's) when acting deterministically
ROLLOUT_SEED = 1


if TYPE_CHECKING:

    class BasePolicyHooks(BasePolicy):
        """What :class:`IterativePolicy` calls on the base policy after it in the bases (SB3's ``SACPolicy``,
        sb3-contrib's ``TQCPolicy`` and ``CrossQPolicy`` define them): for the type checker only."""

        def _build(self, lr_schedule: Schedule) -> None: ...
        def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Any: ...  # a DirectActor
        def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> CriticEnsemble: ...

else:
    BasePolicyHooks = BasePolicy


class IterativePolicy(BasePolicyHooks):
    """The iterative amortized actor's part of an actor-critic policy, placed before the base policy
    (SB3's :class:`SACPolicy`, sb3-contrib's :class:`TQCPolicy` or :class:`CrossQPolicy`): ``class P(IterativePolicy,
    SACPolicy)``.

    It chooses the actor, builds the value estimate inside J from the base's critics with the
    policy's :class:`~sb3_iterative.pessimism.Pessimism` (:meth:`make_pessimism`), and acts by
    optimizing λ. Arguments as the base policy's, plus the following. ``use_sde`` must stay False.

    :param actor: ``"iterative"`` (the paper's iterative amortization, Algorithm 2),
        ``"direct"`` (SAC's actor, λ = f_φ(s): stock SAC when β = 1 with two critics) or ``"flow"``
        (the paper's flow-policy baseline, Appendix B.2: SAC's actor with inverse autoregressive
        transforms between its Gaussian and the tanh, :class:`~sb3_iterative.flow_actor.FlowActor`)
    :param beta_collect: the pessimism β of J while acting (collection, ``predict``)
    :param critic_arch: ``"A"`` (SAC's MLP critic) or ``"B"`` (3 × 512 ELU, layer norm,
        highway connections; the default ``net_arch`` of its critic is then 3 × 512)
    :param compile_acting: run the iterative actor's acting path through ``torch.compile``:
        about 3× faster ``predict`` on one observation, after about 30 s of compilation for each
        batch size (worth it for deployment and long runs; needs a C++ compiler on CPU); model-free
        value estimate only
    :param value_estimator: the value estimate inside J: ``"critic"`` (the critic ensemble's Q̂_β,
        model-free) or ``"model"`` (a learned model's rollout combined with the critics by Retrace,
        paper Sec. 4.2.5, Eq. 14–16; flat Box observations only)
    :param keywords: the iterative optimizer's settings (K as ``n_iterations``, N, λ_0, the update's inputs and form:
        each declared, defaulted, checked and documented in :class:`~sb3_iterative.common.options.IterativeOptions`),
        kept together as ``policy.options``; the actor's own (``distilled_target`` of the iterative actor,
        ``flow_transforms`` and ``flow_net_arch`` of the flow actor: declared, checked and documented by its class,
        :mod:`~sb3_iterative.common.amortizers`); the value estimate's own (``rollout_horizon`` and ``retrace_lambda``
        of the model-based estimate, ``ModelValueEstimator``); and the base policy's arguments. An actor's or a
        value estimate's keyword is refused with another kind, naming the kind it applies to; each is an attribute of
        the policy (``policy.rollout_horizon``: its value, its default, or None for another kind's)
    """

    #: what a base does not support, declared beside it: for each policy option, the values it takes and why it refuses
    #: the others (one check, :func:`~sb3_iterative.common.options.check_supported`); every value not named is taken
    UNSUPPORTED: ClassVar[Unsupported] = {}

    actor: IterativeActor | DirectActor
    critic: CriticEnsemble
    critic_target: CriticEnsemble
    actor_kwargs: dict[str, Any]
    critic_kwargs: dict[str, Any]
    share_features_extractor: bool
    pessimism: Pessimism
    amortizer: Amortizer
    distilled_target: bool  # the iterative actor's own keyword (False with another actor)

    n_iterations = OptionProperty(
        "K, the iterative actor's number of updates per state; settable (the paper's test-time iterations)."
    )
    init_mu_std = OptionProperty(
        "The spread of a random λ_0, µ_0 ~ N(0, s²), s = ``init_mu_std`` (0: the paper's fixed µ_0 = 0); settable."
    )

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        use_sde: bool = False,
        n_critics: int = 2,
        actor: str = "iterative",
        beta_collect: float = 1.0,
        critic_arch: str = "A",
        compile_acting: bool = False,
        value_estimator: str = "critic",
        **keywords: Any,
    ):
        if use_sde:
            raise ValueError(f"{type(self).__name__} does not support gSDE (use_sde=True)")
        check_supported(type(self), self.UNSUPPORTED, actor=actor, critic_arch=critic_arch, value_estimator=value_estimator)
        self.amortizer_class: type[BaseAmortizer] = amortizer_class(actor)  # the one place the actor's name is read
        if critic_arch not in CRITIC_ARCHITECTURES:
            raise ValueError(f"critic_arch must be one of {CRITIC_ARCHITECTURES}, got {critic_arch!r}")
        # the iterative optimizer's settings, declared once (IterativeOptions); the actors' and the value estimates'
        # own keywords, declared by their classes; the rest are the base policy's
        actor_keywords, keywords = split_keywords(keywords, unset_keywords())
        self.options, keywords = IterativeOptions.split(keywords)
        estimator_keywords, base_kwargs = split_keywords(keywords, estimator_option_names())
        # another kind's refused, naming the kind they apply to; this kind's checked, with their defaults
        own = self.amortizer_class.check_keywords({**self.options.as_dict(), **actor_keywords})
        check_count("n_critics", n_critics)
        self._estimator_options = value_estimator_class(value_estimator).check_options(
            estimator_keywords, self.amortizer_class, compile_acting, observation_space
        )
        # each kind's own keyword as an attribute: its value, its default, or unset for another kind
        unset = {**unset_keywords(), **dict.fromkeys(estimator_option_names())}
        own_keywords = {**unset, **own, **self._estimator_options}
        for name, value in own_keywords.items():
            setattr(self, name, value)
        self.own_keyword_names = tuple(own_keywords)  # the attributes just set, which the policy saves
        self.actor_kind, self.critic_arch, self.value_estimator = actor, critic_arch, value_estimator
        self.beta_collect = beta_collect  # checked, and made a float, once the critics give the pessimism
        self.compile_acting = bool(compile_acting)
        check_base_keywords(type(self), base_kwargs, inspect.signature(super().__init__).parameters)
        if net_arch is None and critic_arch == "B":
            net_arch = dict(pi=[256, 256], qf=HIGHWAY_NET_ARCH)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            use_sde=use_sde,
            n_critics=n_critics,
            **base_kwargs,
        )

    @property
    def iterative(self) -> bool:
        """Whether the actor is an iterative optimizer of J (``actor="iterative"``)."""
        return self.amortizer_class.reads_objective

    def set_options(self, **changes: Any) -> None:
        """Change the iterative optimizer's settings after the policy is built (checked; the actor reads them)."""
        options = self.options.replace(**changes)
        changed = {name: value for name, value in changes.items() if getattr(self.options, name) != value}
        self.amortizer_class.check_keywords(changed, changing=True)
        self.options = options
        self.amortizer.set_options(options)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(share_features_extractor=self.share_features_extractor, actor=self.actor_kind)
        own = {name: getattr(self, name) for name in (*POLICY_KEYWORDS, *self.own_keyword_names)}
        return {**data, **self.options.as_dict(), **own}

    def make_pessimism(self) -> Pessimism:
        """How the critics' outputs become Q̂_β (called once the critics exist): the paper's mean − β·std."""
        return EnsembleStd(self.critic.n_critics)

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self.pessimism = self.make_pessimism()
        self.pessimism.check("beta_collect", self.beta_collect)
        self.beta_collect = float(self.beta_collect)
        # the value estimate's component (value_estimator names its kind): its parameters are the policy's
        self.estimator: ValueEstimator = value_estimator_class(self.value_estimator).make(
            self.observation_space,
            self.action_space,
            self._estimator_options,
            lambda parameters: self.make_optimizer(parameters, lr_schedule),
            self.device,
        )
        self.amortizer = self.amortizer_class.build(self)  # the one interface to the actor, whichever it is
        self.distilled_policy: DirectActor | None = None
        if self.amortizer.direct_policy is None and (
            self.estimator.reads_direct_policy or self.options.warm_start or self.distilled_target
        ):
            # A direct policy distilled from the iterative one (KL(π_iter ‖ π_direct)), with its own features
            # extractor: the model's rollout policy, the warm start, the distilled target
            self.distilled_policy = super().make_actor()  # the base policy's direct actor
            self.distilled_policy.optimizer = self.make_optimizer(self.distilled_policy.parameters(), lr_schedule)

    def make_optimizer(self, parameters: Any, lr_schedule: Schedule) -> th.optim.Optimizer:
        """An optimizer of the policy's class and settings (those of its actor and critics) for ``parameters``."""
        optimizer_class: Callable[..., th.optim.Optimizer] = self.optimizer_class
        return optimizer_class(parameters, lr=lr_schedule(1), **self.optimizer_kwargs)

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        self.estimator.train(mode)
        if self.distilled_policy is not None:
            self.distilled_policy.set_training_mode(mode)

    def value_estimate(
        self,
        obs: PyTorchObs,
        ent_coef: th.Tensor | float,
        target: bool = False,
        critic_only: bool = False,
        generator: th.Generator | None = None,
        shared_noise: bool = False,
        common_noise: bool = False,
    ) -> ValueEstimate:
        """Q̂_β inside J, bound to ``obs``: the one place that builds it, from the policy's value estimator
        (``estimator``; ``value_estimator="model"``: the model's rollout with the direct policy's actions,
        combined with the critics by Retrace).

        :param ent_coef: α, for the soft values inside a model rollout
        :param target: bootstrap from the target critics (the critic's target) instead of the online ones
        :param critic_only: the critic ensemble's estimate whatever the value estimator
        :param generator: the random generator of a model rollout's samples (None: torch's global one)
        :param shared_noise: one set of rollout samples for the whole batch (deterministic acting)
        :param common_noise: the same rollout samples in every call (the analyses' fixed samples)
        """
        critic = self.critic_target if target else self.critic
        if critic_only:
            return EnsembleQ(critic, obs, self.pessimism, self.estimator.stacks)
        direct_policy = self.direct_policy if self.estimator.reads_direct_policy else None
        return self.estimator.build(
            obs, critic, self.pessimism, ent_coef, direct_policy, generator, shared_noise, common_noise
        )

    @property
    def direct_policy(self) -> DirectActor:
        """The direct policy λ = f(s) beside the actor: the distilled one, or the direct actor itself."""
        direct_policy = self.distilled_policy if self.distilled_policy is not None else self.amortizer.direct_policy
        assert direct_policy is not None, "an iterative (or flow) actor has a direct policy only when distilled"
        return direct_policy

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> IterativeActor | DirectActor:
        base = super().make_actor
        return self.amortizer_class.make_actor(self, features_extractor, lambda: base(features_extractor))

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> CriticEnsemble:
        if self.critic_arch == "A":
            return super().make_critic(features_extractor)
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return make_critic(self.critic_arch, **critic_kwargs).to(self.device)

    def actor_forward(self) -> contextlib.AbstractContextManager[None]:
        """The mode the actor's networks are in for its forward pass in the actor's training step (a
        batch-renormalized direct actor trains on batch statistics there): unchanged here."""
        return contextlib.nullcontext()

    def sample_noise(self, batch_size: int) -> th.Tensor:
        """Standard normal ε for every estimate of J in one optimization and its evaluation at λ_K (the noise plan's,
        :func:`~sb3_iterative.objective.noise_plan`), from torch's global random state.

        :return: [K + 1, N, B, A] for the iterative actor, [1, N, B, A] for the direct one
        """
        n_estimates = self.amortizer.n_estimates + 1  # and the evaluation at λ_K
        action_dim = math.prod(self.action_space.shape or ())  # a Box's (a compiled step traces it without a break)
        return noise_plan(n_estimates, self.options.n_action_samples, batch_size, action_dim, device=self.device)

    def optimize(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor,
        with_values: bool = True,
    ) -> IterativeTrace:
        """The action distribution λ for ``obs``: K iterative updates, or one direct estimate (the actor's step and the
        critic target's λ' enter Algorithm 2 here).

        :param value_estimate: Q̂_β bound to ``obs`` (None for an actor that does not read J)
        :param noise: from :meth:`sample_noise`; all but its last slice are used here, the last
            is for the caller's evaluation at λ_K
        :param with_values: estimate J itself at each λ_k, not only ∇_λ J
        """
        return self.amortizer.trace(obs, value_estimate, ent_coef, beta, noise[:-1], with_values=with_values)

    def distilled_parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor]:
        """The distilled direct policy's λ = (µ, log σ) for ``obs`` as the warm start and the distilled target
        read it (its training reads it through its own forward pass)."""
        assert self.distilled_policy is not None
        mu, log_std, _ = self.distilled_policy.get_action_dist_params(obs)
        return mu, log_std

    def target_modes(self) -> contextlib.AbstractContextManager[Any]:
        """The modes of the networks while the critic's target finds λ' and a' (a batch-renormalized base reads its
        running statistics there): unchanged here."""
        return contextlib.nullcontext()

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.act(observation, deterministic)

    def act(
        self,
        observation: PyTorchObs,
        deterministic: bool,
        bind: Callable[[PyTorchObs, th.Generator | None, bool], ValueEstimate] | None = None,
        ent_coef: th.Tensor | float | None = None,
    ) -> th.Tensor:
        """The actor's actions for a batch of observations: the one acting path.

        :param bind: J's value estimate for ``(observation, generator, shared_noise)`` (a changed objective's, which
            runs eagerly); None: the policy's own (:meth:`value_estimate`)
        :param ent_coef: α of J (None: the algorithm's)
        """
        value_estimate = None
        if self.amortizer.reads_objective:
            generator = None
            if deterministic and (bind is not None or self.estimator.draws_samples):  # e.g. a model rollout's samples
                generator = th.Generator(device=self.device).manual_seed(ROLLOUT_SEED)
            if bind is None:
                alpha = self.amortizer.ent_coef
                assert alpha is not None
                value_estimate = self.value_estimate(observation, alpha, generator=generator, shared_noise=deterministic)
            else:
                value_estimate = bind(observation, generator, deterministic)
        compiled = self.compile_acting and bind is None  # a changed objective runs eagerly
        return self.amortizer.act(observation, value_estimate, self.beta_collect, deterministic, ent_coef, compiled)
