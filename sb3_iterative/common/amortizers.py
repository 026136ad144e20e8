"""One interface to every actor of a policy (:class:`Amortizer`): how training, the critic's target, acting and the
analyses enter Algorithm 2, whichever actor the policy has.

An actor is an amortized optimizer of λ = (µ, log σ): the iterative one runs K gated updates on ∇_λ J from λ_0
(:class:`IterativeAmortizer`, the paper's), a direct one maps the state to λ in one pass (:class:`DirectAmortizer`:
SAC's, TQC's or CrossQ's actor; :class:`FlowAmortizer`: the flow-policy baseline, SAC's actor with a flow). Each
answers with the path λ_0 → λ_K of one optimization (:class:`~sb3_iterative.common.iterative_actor.IterativeTrace`:
a path of length one for a direct actor) and says how many estimates of ∇_λ J it draws noise for. Each also says
what it is able to do (:attr:`Amortizer.reads_objective`, :attr:`Amortizer.tanh_gaussian`): callers ask that, never
which actor it is.

The policy's ``actor`` keyword names one of :data:`AMORTIZERS` (:func:`amortizer_class`: the one place that reads the
name); the class checks the policy's keywords that only some actors read (:meth:`BaseAmortizer.check_keywords`),
builds the actor module (:meth:`BaseAmortizer.make_actor`) and then itself over it (:meth:`BaseAmortizer.build`).
A new actor is one class and one entry in :data:`AMORTIZERS` (``tests/test_outside_actor.py`` adds one from outside
the package).
"""

import contextlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

import torch as th
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_iterative.common.compilation import compile_acting
from sb3_iterative.common.iterative_actor import IterativeActor, IterativeTrace
from sb3_iterative.common.options import IterativeOptions, check_count, check_flag
from sb3_iterative.critics import EnsembleQ
from sb3_iterative.distributions import TANH_GAUSSIAN, PolicyDistribution
from sb3_iterative.flow_actor import DEFAULT_FLOW_NET_ARCH, DEFAULT_FLOW_TRANSFORMS, FlowActor
from sb3_iterative.objective import ValueEstimate

if TYPE_CHECKING:
    from sb3_iterative.common.policies import IterativePolicy

# λ = (µ, log σ) [B, A] each of a batch of observations
Parameters = tuple[th.Tensor, th.Tensor]


class DirectActor(Protocol):
    """The direct actor λ = f_φ(s) of a base policy: SAC's, sb3-contrib TQC's (the same network, its own
    class) or CrossQ's (batch-renormalized); also the distilled policy of the warm start, the distilled
    target and the model's rollouts."""

    optimizer: th.optim.Optimizer

    def get_action_dist_params(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, dict[str, th.Tensor]]:
        """λ = (µ, log σ) [B, A] each, and the distribution's keywords."""
        ...

    def __call__(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor: ...

    def parameters(self, recurse: bool = True) -> Any: ...

    def set_training_mode(self, mode: bool) -> None: ...


class Amortizer(Protocol):
    """What is asked of a policy's actor, whichever it is."""

    #: the name the policy's ``actor`` keyword gives it
    kind: ClassVar[str]
    #: whether λ depends on J (the actor optimizes it by iterations on ∇_λ J, reading the value estimate; else it
    #: ignores J): it has K, a λ_0 and the iterative optimizer's settings
    reads_objective: ClassVar[bool]
    #: whether λ = (µ, log σ) are SAC's tanh-Gaussian's (a flow actor's pass through its state's transforms)
    tanh_gaussian: ClassVar[bool]
    #: the direct policy λ = f(s) the actor is, if it is one (a model rollout's policy), else None
    direct_policy: DirectActor | None

    @property
    def n_estimates(self) -> int:
        """The estimates of ∇_λ J in one optimization, each with its slice of the noise plan (K; 0 for a direct actor)."""
        ...

    def trace(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
        with_values: bool = True,
        shared_noise: bool = False,
    ) -> IterativeTrace:
        """The path λ_0 → λ_K for ``obs`` (Algorithm 2; one λ for a direct actor).

        :param value_estimate: Q̂_β bound to ``obs`` (None for an actor that does not read J)
        :param noise: ε of its estimates of ∇_λ J [K, N, B, A]; drawn from ``generator`` when None
        :param with_values: estimate J itself at each λ_k, not only ∇_λ J
        :param shared_noise: one set of noise (and one random λ_0) for the whole batch
        """
        ...

    def act(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        beta: float,
        deterministic: bool,
        ent_coef: th.Tensor | float | None = None,
        compiled: bool = False,
    ) -> th.Tensor:
        """Actions for ``obs``: tanh of the mode of π(·|s; λ_K), or a sample of it.

        :param ent_coef: α of J (None: the algorithm's, :attr:`ent_coef`)
        :param compiled: through the acting path compiled (the policy's ``compile_acting``)
        """
        ...

    @property
    def ent_coef(self) -> th.Tensor | None:
        """α of J while acting (None for an actor that does not read J)."""
        ...

    def set_ent_coef(self, ent_coef: th.Tensor) -> None:
        """α of J while acting, kept equal to the algorithm's (an actor that does not read J has none)."""
        ...

    def set_options(self, options: IterativeOptions) -> None:
        """The iterative optimizer's settings, changed after the policy was built (an actor without one has none)."""
        ...

    def check_trainable(self) -> None:
        """Raise if the actor as it is set cannot be trained (the iterative optimizer with K = 0)."""
        ...


def amortizer_of(policy: Any) -> Amortizer:
    """The actor of any policy of the family behind the one interface: the package's own (``policy.amortizer``), or
    a stock SAC's, TQC's or CrossQ's direct actor."""
    amortizer = getattr(policy, "amortizer", None)  # the package's policies build one; stock ones have none
    return amortizer if amortizer is not None else DirectAmortizer(policy.actor)


class BaseAmortizer:
    """What every kind of actor shares: the check of the policy's keywords that only some kinds read, and how the
    policy builds the actor and its amortizer (a new kind overrides :meth:`make_actor` and :meth:`build`)."""

    kind: ClassVar[str]
    reads_objective: ClassVar[bool] = False
    tanh_gaussian: ClassVar[bool] = True
    #: the policy keywords only this kind of actor reads, with their value when unset
    OWN_KEYWORDS: ClassVar[dict[str, Any]] = {}
    #: how an error names this kind of actor
    NAMED: ClassVar[str]

    @classmethod
    def check_keywords(cls, keywords: dict[str, Any], changing: bool = False) -> dict[str, Any]:
        """Refuse the policy keywords of another kind of actor that are set, naming the kind they apply to; return
        this kind's own that are not the optimizer's settings (``IterativeOptions``), checked, with their defaults.

        :param changing: ``keywords`` are changes to a built policy's settings (then K, too, is the iterative one's)
        """
        for name, unset in unset_keywords().items():  # a flag is one whatever the actor (a number is not a flag)
            if isinstance(unset, bool) and name in keywords:
                check_flag(name, keywords[name])
        for other in AMORTIZERS.values():
            if other is cls:
                continue
            own = {**other.OWN_KEYWORDS, **({"n_iterations": CHANGED} if changing and other.reads_objective else {})}
            for name, unset in own.items():
                if name in keywords and is_set(keywords[name], unset):
                    raise ValueError(f"{name} applies to {other.NAMED} only (this policy has actor={cls.kind!r})")
        return {name: keywords.get(name, unset) for name, unset in own_keywords(cls).items()}

    @classmethod
    def make_actor(cls, policy: "IterativePolicy", features_extractor: Any, base: Callable[[], Any]) -> Any:
        """The actor module of ``policy`` with ``features_extractor`` (None: its own); ``base`` makes the base policy's
        direct actor."""
        return base()

    @classmethod
    def build(cls, policy: "IterativePolicy") -> Amortizer:
        """The amortizer over the actor ``policy`` has built."""
        raise NotImplementedError

    def set_ent_coef(self, ent_coef: th.Tensor) -> None:
        """An actor that reads no J has no α."""

    def set_options(self, options: IterativeOptions) -> None:
        """An actor without the iterative optimizer has none of its settings (N is J's, read by the noise plan)."""

    def check_trainable(self) -> None:
        """A direct actor always trains."""


# a change of a setting, which differs from any value
CHANGED = object()


def is_set(value: Any, unset: Any) -> bool:
    """Whether a keyword's ``value`` differs from its unset value (None by identity: an array compares elementwise)."""
    return value is not None if unset is None else bool(value != unset)


class DirectAmortizer(BaseAmortizer):
    """A base's direct actor λ = f_φ(s) (SAC's, TQC's, CrossQ's): one λ per state, J unread."""

    kind: ClassVar[str] = "direct"
    NAMED: ClassVar[str] = "actor='direct'"
    n_estimates = 0
    ent_coef = None

    def __init__(self, actor: DirectActor):
        self.actor = actor
        self.direct_policy: DirectActor | None = actor

    @classmethod
    def build(cls, policy: "IterativePolicy") -> Amortizer:
        return cls(cast(DirectActor, policy.actor))  # the actor make_actor made for this kind

    def parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, PolicyDistribution]:
        """λ for ``obs`` and the policy's family bound to it (SAC's tanh-Gaussian)."""
        mu, log_std, _ = self.actor.get_action_dist_params(obs)
        return mu, log_std, TANH_GAUSSIAN

    def trace(self, obs: PyTorchObs, *args: Any, **kwargs: Any) -> IterativeTrace:
        mu, log_std, distribution = self.parameters(obs)
        return IterativeTrace(lambdas=[(mu, log_std)], estimates=[], gates=[], first_trained=0, distribution=distribution)

    def act(self, obs: PyTorchObs, value_estimate: Any, beta: float, deterministic: bool, *args: Any, **kw: Any) -> th.Tensor:
        return self.actor(obs, deterministic)


class IterativeAmortizer(BaseAmortizer):
    """The iterative optimizer f_φ (:class:`~sb3_iterative.common.iterative_actor.IterativeActor`) with its λ_0: the
    actor's own (fixed, or random with ``init_mu_std``), or the distilled direct policy's with ``warm_start``.

    :param actor: f_φ
    :param warm_start: λ of the distilled direct policy for a batch of observations (None: the actor's λ_0)
    """

    kind: ClassVar[str] = "iterative"
    reads_objective: ClassVar[bool] = True
    OWN_KEYWORDS: ClassVar[dict[str, Any]] = {
        "distilled_target": False,
        **{name: getattr(IterativeOptions(), name) for name in IterativeOptions.ITERATIVE_ONLY},
    }
    NAMED: ClassVar[str] = "the iterative actor"

    @classmethod
    def check_keywords(cls, keywords: dict[str, Any], changing: bool = False) -> dict[str, Any]:
        """``distilled_target``: the critic's target takes its next action from the distilled direct policy instead of
        K iterations on the next observations (as the authors' model-based runs did; beyond the paper for the
        model-free estimate). A change of ``warm_start`` after the policy is built is refused: the distilled policy
        it starts from is made with the policy."""
        if changing and "warm_start" in keywords:
            raise ValueError("warm_start is chosen when the policy is built (its distilled policy is made then)")
        return super().check_keywords(keywords, changing)

    def __init__(
        self,
        actor: IterativeActor,
        warm_start: Callable[[PyTorchObs], Parameters] | None = None,
    ):
        self.actor = actor
        self.warm_start = warm_start
        self.compiled_optimizer: Callable[..., Parameters] | None = None
        self.direct_policy: DirectActor | None = None

    @classmethod
    def make_actor(cls, policy: "IterativePolicy", features_extractor: Any, base: Callable[[], Any]) -> Any:
        # the base's actor options that f_φ has no use for (gSDE's, batch renormalization's) stay with the base's
        # direct actor: the distilled policy
        accepted = inspect.signature(IterativeActor.__init__).parameters
        actor_kwargs = policy._update_features_extractor(policy.actor_kwargs, features_extractor)
        kwargs = {name: value for name, value in actor_kwargs.items() if name in accepted}
        return IterativeActor(**kwargs, options=policy.options).to(policy.device)

    @classmethod
    def build(cls, policy: "IterativePolicy") -> Amortizer:
        warm_start = policy.distilled_parameters if policy.options.warm_start else None
        return cls(cast(IterativeActor, policy.actor), warm_start)  # make_actor's

    @property
    def n_estimates(self) -> int:
        return self.actor.options.n_iterations

    @property
    def ent_coef(self) -> th.Tensor:
        return self.actor.ent_coef

    def initial(self, obs: PyTorchObs) -> Parameters | None:
        """λ_0 for ``obs`` where it is the warm start's (constants of the optimization); None: the actor's own,
        drawn inside the optimization."""
        if self.warm_start is None:
            return None
        with th.no_grad():
            return self.warm_start(obs)

    def trace(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        ent_coef: th.Tensor | float,
        beta: float,
        noise: th.Tensor | None = None,
        generator: th.Generator | None = None,
        with_values: bool = True,
        shared_noise: bool = False,
    ) -> IterativeTrace:
        assert value_estimate is not None, "the iterative optimizer reads J"
        return self.actor.optimize(
            obs, value_estimate, ent_coef, beta, noise, generator, with_values, shared_noise, initial=self.initial(obs)
        )

    def act(
        self,
        obs: PyTorchObs,
        value_estimate: ValueEstimate | None,
        beta: float,
        deterministic: bool,
        ent_coef: th.Tensor | float | None = None,
        compiled: bool = False,
    ) -> th.Tensor:
        assert value_estimate is not None, "the iterative optimizer reads J"
        optimized_parameters = self.compiled() if compiled else None
        if optimized_parameters is not None and isinstance(value_estimate, EnsembleQ):
            value_estimate.prepare()
        # With the critics' hand-written action gradient no autograd is needed: inference mode also skips the version
        # counters and autograd's dispatch of the iterations' few hundred small operations. An estimate
        # differentiated by autograd (architecture B, a model) needs grad mode.
        hand_written = isinstance(value_estimate, EnsembleQ) and value_estimate.hand_written_gradient
        with th.inference_mode() if hand_written else contextlib.nullcontext():
            return self.actor(
                obs,
                value_estimate,
                beta=beta,
                deterministic=deterministic,
                ent_coef=ent_coef,
                initial=self.initial(obs),
                optimized_parameters=optimized_parameters,
            )

    def compiled(self) -> Callable[..., Parameters]:
        """The actor's ``optimized_parameters`` compiled (``compilation.compile_acting``, on first use)."""
        if self.compiled_optimizer is None:
            self.compiled_optimizer = compile_acting(self.actor.optimized_parameters)
        return self.compiled_optimizer

    def set_ent_coef(self, ent_coef: th.Tensor) -> None:
        self.actor.ent_coef.copy_(ent_coef.reshape(()))

    def set_options(self, options: IterativeOptions) -> None:
        self.actor.options = options

    def check_trainable(self) -> None:
        if self.n_estimates == 0:
            raise ValueError(
                "n_iterations=0 leaves the iterative actor nothing to train (it acts as the warm start's distilled "
                "policy); train with n_iterations >= 1"
            )


class FlowAmortizer(DirectAmortizer):
    """The flow-policy baseline's actor (:class:`~sb3_iterative.flow_actor.FlowActor`): one λ of its base Gaussian
    per state, with its flow bound to the states; not a direct policy a model rollout reads."""

    kind: ClassVar[str] = "flow"
    tanh_gaussian: ClassVar[bool] = False
    OWN_KEYWORDS: ClassVar[dict[str, Any]] = {"flow_transforms": None, "flow_net_arch": None}
    NAMED: ClassVar[str] = "actor='flow'"

    def __init__(self, actor: FlowActor):
        super().__init__(actor)
        self.flow_actor = actor
        self.direct_policy = None

    @classmethod
    def check_keywords(cls, keywords: dict[str, Any], changing: bool = False) -> dict[str, Any]:
        """``flow_transforms``: the number of inverse autoregressive transforms, 2 (the paper's) by default;
        ``flow_net_arch``: the hidden layers of each transform's network, [256, 256] (the paper's) by default."""
        super().check_keywords(keywords, changing)
        transforms, net_arch = keywords.get("flow_transforms"), keywords.get("flow_net_arch")
        if transforms is not None:
            check_count("flow_transforms", transforms)
        if net_arch is not None and (
            not isinstance(net_arch, (list, tuple))
            or not net_arch
            or not all(isinstance(width, int) and not isinstance(width, bool) and width >= 1 for width in net_arch)
        ):
            raise ValueError(f"flow_net_arch must be a non-empty list of layer widths (integers >= 1), got {net_arch!r}")
        return dict(
            flow_transforms=DEFAULT_FLOW_TRANSFORMS if transforms is None else transforms,
            flow_net_arch=list(DEFAULT_FLOW_NET_ARCH if net_arch is None else net_arch),
        )

    @classmethod
    def make_actor(cls, policy: "IterativePolicy", features_extractor: Any, base: Callable[[], Any]) -> Any:
        actor_kwargs = policy._update_features_extractor(policy.actor_kwargs, features_extractor)
        own = {name: getattr(policy, name) for name in cls.OWN_KEYWORDS}  # with check_keywords' defaults
        return FlowActor(**actor_kwargs, **own).to(policy.device)

    def parameters(self, obs: PyTorchObs) -> tuple[th.Tensor, th.Tensor, PolicyDistribution]:
        return self.flow_actor.get_flow_params(obs)


#: the actors a policy's ``actor`` keyword names, by their ``kind`` (a new kind is one more entry)
AMORTIZERS: dict[str, type[BaseAmortizer]] = {
    amortizer.kind: amortizer for amortizer in (IterativeAmortizer, DirectAmortizer, FlowAmortizer)
}


def own_keywords(amortizer: type[BaseAmortizer]) -> dict[str, Any]:
    """A kind's own policy keywords that are not the optimizer's settings, with their value when unset."""
    return {name: unset for name, unset in amortizer.OWN_KEYWORDS.items() if name not in IterativeOptions.names()}


def unset_keywords() -> dict[str, Any]:
    """Every kind's own policy keywords that are not the optimizer's settings, unset."""
    return {name: unset for amortizer in AMORTIZERS.values() for name, unset in own_keywords(amortizer).items()}


def amortizer_class(actor: Any) -> type[BaseAmortizer]:
    """The class of the actor the policy's ``actor`` keyword names: where the name is read."""
    if not isinstance(actor, str) or actor not in AMORTIZERS:
        raise ValueError(f"actor must be one of {tuple(AMORTIZERS)}, got {actor!r}")
    return AMORTIZERS[actor]
