"""The iterative optimizer's settings, declared once (:class:`IterativeOptions`): each one's name, default, check and
meaning are here, the policy takes them as keywords (``policy_kwargs``, rl-zoo3's YAML files), saves them with its
constructor's parameters and hands the object to the actor, which reads it."""

import dataclasses
import math
import numbers
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

# A base's refusals: for a policy option, the values the base takes and why it refuses the others
Unsupported: TypeAlias = Mapping[str, tuple[tuple[str, ...], str]]
# The base policies' actor options that only gSDE reads (SB3's SAC actor and sb3-contrib's take them)
GSDE_OPTIONS = ("log_std_init", "use_expln", "clip_mean")


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int, or a ValueError naming ``name`` unless it is an integer (numpy's too) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_positive(name: str, value: Any) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_non_negative(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


@dataclass(frozen=True)
class IterativeOptions:
    """The iterative optimizer's settings (Algorithm 2), as policy keywords: ``policy_kwargs=dict(n_iterations=5)``.
    Checked when made; :meth:`replace` makes a checked copy (``policy.n_iterations = 10`` does).

    :param n_iterations: K, updates per state, in training and acting alike; it can be raised after training
        (``policy.n_iterations = 10``), the paper's extra test-time iterations (0 only with ``warm_start``: the
        distilled policy acts alone)
    :param n_action_samples: N, reparameterised samples per estimate of J and ∇_λ J (every actor's J)
    :param init_std: σ of the initial distribution λ_0 (µ = 0)
    :param init_mu_std: a random λ_0 per state and optimization, µ_0 ~ N(0, s²) with s = ``init_mu_std``, in acting and
        training alike (beyond the paper, whose λ_0 is fixed: 0 by default; the authors' Fig. 7 runs start from
        µ_0 ~ N(0, 0.3²)); it can be set after training (``policy.init_mu_std = 0.3``); not with ``warm_start``
    :param gradient_magnitude: f_φ also reads each gradient's log-magnitude and sign per action dimension (Andrychowicz
        et al., 2016), which the paper's per-state normalization of its inputs discards (beyond the paper)
    :param residual_update: the update is a step from the current λ, λ_k = λ_{k−1} + (1 − ω) ⊙ Δ, instead of the paper's
        gated new value λ_k = ω ⊙ λ_{k−1} + (1 − ω) ⊙ δ (Eq. 12): an optimizer that starts as the identity and moves λ
        by what ∇_λ J says where it is, so that runs from different λ_0 can end in different modes (beyond the paper)
    :param input_normalization: how f_φ reads the four action-sized inputs (µ, log σ, ∇_µ J, ∇_{log σ} J):
        ``"layer"``, the paper's, standardizes each across the action dimensions (a layer norm without affine parameters,
        as the authors' code; symlog with one action dimension, where a layer norm would zero it), which erases each
        block's mean and scale across dimensions: with two dimensions only the sign of x₁ − x₂ is left, and a step
        that moves every dimension together is invisible. ``"symlog"`` maps each element to sign(x)·log(1 + |x|): it
        keeps every direction and compresses magnitudes, and it treats a reflected action axis as the reflection
        (beyond the paper)
    :param objective_perturbation: train the optimizer on perturbed objectives (beyond the paper): in the actor's
        step each state's J gains a random pull −c·‖a − a*‖², a* ~ U(−1, 1)^|A|, c ~ U(0, c_max) with c_max =
        ``objective_perturbation``, which f_φ sees only through ∇_λ J; an optimizer trained on one fixed J can map
        the state to its optimum and ignore the gradients, one trained on many has to read them (0: the paper's J).
        The critic, α and acting use the unperturbed J
    :param warm_start: start the iterative optimizer from the distilled direct policy's λ instead of the fixed λ_0
        (beyond the paper). ``n_iterations=0`` then acts as the distilled policy itself
    """

    n_iterations: int = 5
    n_action_samples: int = 1
    init_std: float = 0.5
    init_mu_std: float = 0.0
    gradient_magnitude: bool = False
    residual_update: bool = False
    input_normalization: str = "layer"
    objective_perturbation: float = 0.0
    warm_start: bool = False

    #: the settings only the iterative actor reads: with another actor they must keep their defaults
    ITERATIVE_ONLY: ClassVar[tuple[str, ...]] = (
        "warm_start",
        "gradient_magnitude",
        "residual_update",
        "init_mu_std",
        "input_normalization",
        "objective_perturbation",
    )
    #: the values of ``input_normalization``
    INPUT_NORMALIZATIONS: ClassVar[tuple[str, ...]] = ("layer", "symlog")

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.type is bool:
                check_flag(field.name, getattr(self, field.name))
        for name in ("init_mu_std", "objective_perturbation"):
            check_non_negative(name, getattr(self, name))
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.input_normalization not in self.INPUT_NORMALIZATIONS:
            raise ValueError(
                f"input_normalization must be one of {', '.join(map(repr, self.INPUT_NORMALIZATIONS))}, "
                f"got {self.input_normalization!r}"
            )
        init_mu_std = self.init_mu_std
        if init_mu_std > 0 and self.warm_start:
            raise ValueError("init_mu_std applies to the fixed λ_0; with warm_start, λ_0 is the distilled policy's")
        check_count("n_iterations", self.n_iterations, minimum=0 if self.warm_start else 1)
        check_count("n_action_samples", self.n_action_samples)
        object.__setattr__(self, "init_std", check_positive("init_std", self.init_std))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in dataclasses.fields(cls))

    @classmethod
    def split(cls, keywords: Mapping[str, Any]) -> tuple["IterativeOptions", dict[str, Any]]:
        """The settings among a policy's keywords, checked, and the other keywords."""
        settings, rest = split_keywords(keywords, cls.names())
        return cls(**settings), rest

    def replace(self, **changes: Any) -> "IterativeOptions":
        """A checked copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as the policy's keywords (what its saved constructor parameters hold)."""
        return dataclasses.asdict(self)


class OptionProperty:
    """A setting of :class:`IterativeOptions` as a property of the policy (``policy.n_iterations``): read from
    ``policy.options``, set through ``policy.set_options`` (checked, and handed to the actor)."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, policy: Any, owner: type | None = None) -> Any:
        return self if policy is None else getattr(policy.options, self.name)

    def __set__(self, policy: Any, value: Any) -> None:
        policy.set_options(**{self.name: value})


def split_keywords(keywords: Mapping[str, Any], names: Collection[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``keywords`` split into those named in ``names`` and the others."""
    return {k: v for k, v in keywords.items() if k in names}, {k: v for k, v in keywords.items() if k not in names}


def check_supported(policy_class: type, unsupported: Unsupported, **options: Any) -> None:
    """Refuse what a base does not support (its ``UNSUPPORTED``), naming the values it takes and why."""
    for name, value in options.items():
        if name in unsupported and value not in unsupported[name][0]:
            allowed, reason = unsupported[name]
            raise ValueError(
                f"{name} must be {' or '.join(map(repr, allowed))} for {policy_class.__name__}: {reason}; got {value!r}"
            )


def check_base_keywords(policy_class: type, keywords: dict[str, Any], base_parameters: Mapping[str, Any]) -> None:
    """The base policy's keywords: each one it takes, and none set that only gSDE reads."""
    for name in keywords:
        if name not in base_parameters:  # as Python says it, naming the user's policy class, not the base
            raise TypeError(f"{policy_class.__name__}.__init__() got an unexpected keyword argument {name!r}")
        # the base's actors read them only with gSDE: another value than the default would be ignored (the default
        # comes back with the constructor's parameters when a saved policy loads)
        if name in GSDE_OPTIONS and keywords[name] != base_parameters[name].default:
            raise ValueError(
                f"{name} is an option of gSDE (use_sde=True), which {policy_class.__name__} does not support: "
                "it would change nothing; remove it"
            )
