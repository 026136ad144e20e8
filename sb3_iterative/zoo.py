"""The rl-zoo3 bridge: IterativeSAC as rl-zoo3's algorithm ``iterative_sac``, IterativeTQC as ``iterative_tqc``,
IterativeCrossQ as ``iterative_crossq``.

rl-zoo3 has no plugin mechanism. Its train, enjoy and hyperparameter search read three
module-level dicts, shared by every rl-zoo3 module that imports them: ``ALGOS`` (name →
algorithm class), ``HYPERPARAMS_SAMPLER`` (name → Optuna sampler) and
``HYPERPARAMS_CONVERTER`` (name → function turning a stored trial's parameters back into
hyperparameters, for ``--trial-id``). :func:`register` adds ``iterative_sac`` to all three.

The package ships its own hyperparameter files (:func:`hyperparams_file`): ``iterative_sac.yml``
with the paper's settings and ``sac.yml`` with stock SAC on the same tasks and budget. rl-zoo3
would look for them inside its own package, so ``python -m sb3_iterative.train`` passes them as
``-conf`` when the user gives none.
"""

import argparse
from pathlib import Path
from typing import Any

import optuna
from rl_zoo3.hyperparams_opt import (
    HYPERPARAMS_CONVERTER,
    HYPERPARAMS_SAMPLER,
    convert_offpolicy_params,
    sample_sac_params,
    sample_tqc_params,
)
from rl_zoo3.utils import ALGOS
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_iterative.critics import HIGHWAY_NET_ARCH
from sb3_iterative.iterative_crossq import IterativeCrossQ
from sb3_iterative.iterative_sac import IterativeSAC
from sb3_iterative.iterative_tqc import IterativeTQC

ALGO = "iterative_sac"
# The model-based variants (paper Sec. 4.2.5): IterativeSAC with value_estimator="model", with the
# iterative actor or SAC's direct one; each name has its own hyperparameter file.
MODEL_BASED_ALGOS = ("iterative_sac_mb", "direct_sac_mb")
# The paper's flow-policy baseline (Appendix B.2): IterativeSAC with actor="flow" and beta = 1
FLOW_ALGO = "flow_sac"
# The options on a distilled direct policy (beyond the paper): the critic's target from it, a warm start
DISTILLED_ALGOS = ("iterative_sac_dt", "iterative_sac_ws")
# Every name under which rl-zoo3 runs IterativeSAC, each with its own hyperparameter file
ITERATIVE_SAC_ALGOS = (ALGO, *MODEL_BASED_ALGOS, FLOW_ALGO, *DISTILLED_ALGOS)
HYPERPARAMS_DIR = Path(__file__).parent / "hyperparams"
# IterativeTQC (beyond the paper): sb3-contrib's TQC with the iterative actor
TQC_ALGO = "iterative_tqc"
# IterativeCrossQ (beyond the paper): sb3-contrib's CrossQ with the iterative actor
CROSSQ_ALGO = "iterative_crossq"
# The algorithm class behind every name the package registers with rl-zoo3
ALGORITHMS: dict[str, type[OffPolicyAlgorithm]] = {
    **dict.fromkeys(ITERATIVE_SAC_ALGOS, IterativeSAC),
    TQC_ALGO: IterativeTQC,
    CROSSQ_ALGO: IterativeCrossQ,
}
# Algorithms whose default hyperparameters come from this package rather than from rl-zoo3:
# ours, and stock SAC and TQC with the same budgets on the v5 tasks, so that a comparison reads
# them from one place.
PACKAGE_ALGOS = (*ITERATIVE_SAC_ALGOS, TQC_ALGO, CROSSQ_ALGO, "sac", "tqc", "crossq")
# What the search adds to rl-zoo3's SAC search space (trial parameter names, as Optuna stores them).
ITERATIVE_SEARCH = ("n_iterations", "n_action_samples", "beta", "critic_arch")
# What the search adds to rl-zoo3's TQC search space
ITERATIVE_TQC_SEARCH = ("n_iterations", "n_action_samples")
# IterativeCrossQ's search beyond rl-zoo3's off-policy parameters (rl-zoo3 has no CrossQ search space)
ITERATIVE_CROSSQ_SEARCH = ("critic_width", "policy_delay", "n_iterations", "n_action_samples")
CRITIC_WIDTHS = (256, 1024, 2048)


def register() -> None:
    """Make ``iterative_sac``, ``iterative_tqc`` and ``iterative_crossq`` rl-zoo3 algorithms: training, ``enjoy``,
    ``-optimize`` and ``--trial-id``.

    Call it before rl-zoo3's ``train()`` or ``enjoy()`` builds its command line (the ``--algo``
    choices are read from ``ALGOS`` then). Calling it again changes nothing. The other names of
    :data:`ITERATIVE_SAC_ALGOS` (the model-based variants, the flow-policy baseline, the options on a
    distilled policy) are registered for training and ``enjoy``; their hyperparameter search is not
    offered (rl-zoo3's sampler would drop their options).
    """
    ALGOS.update(ALGORITHMS)
    HYPERPARAMS_SAMPLER[ALGO] = sample_iterative_sac_params
    HYPERPARAMS_CONVERTER[ALGO] = convert_iterative_sac_params
    HYPERPARAMS_SAMPLER[TQC_ALGO] = sample_iterative_tqc_params
    HYPERPARAMS_CONVERTER[TQC_ALGO] = convert_iterative_tqc_params
    HYPERPARAMS_SAMPLER[CROSSQ_ALGO] = sample_iterative_crossq_params
    HYPERPARAMS_CONVERTER[CROSSQ_ALGO] = convert_iterative_crossq_params


def register_for_loading() -> None:
    """:func:`register`, then :class:`EnjoyLoader` in ``ALGOS`` for each of :data:`ALGORITHMS`: for rl-zoo3's
    ``enjoy`` and ``record_video``, which only call ``ALGOS[algo].load``."""
    register()
    for algo, algorithm in ALGORITHMS.items():
        ALGOS[algo] = EnjoyLoader(algorithm)  # type: ignore[assignment]  # only its load is called


def hyperparams_file(algo: str) -> Path | None:
    """The package's hyperparameter file for ``algo`` (one of :data:`PACKAGE_ALGOS`), None for the others.

    The files are package data (``sb3_iterative/hyperparams/``): the same path serves a source
    checkout and an installed wheel.
    """
    return HYPERPARAMS_DIR / f"{algo}.yml" if algo in PACKAGE_ALGOS else None


def with_default_conf(argv: list[str]) -> list[str]:
    """rl-zoo3 ``train`` arguments, with ``--conf-file`` pointing at the package's file for
    ``--algo`` when the user gave no ``-conf`` and the package has one (see :func:`hyperparams_file`).

    Only ``--algo`` and ``-conf`` are read here, with rl-zoo3's option names, so abbreviations and
    ``--opt=value`` resolve as rl-zoo3 resolves them; anything this parse cannot read is left for
    rl-zoo3 to report.
    """
    parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    parser.add_argument("--algo")
    parser.add_argument("-conf", "--conf-file")
    try:
        known, _ = parser.parse_known_args(argv)
    except argparse.ArgumentError:
        return argv
    path = hyperparams_file(known.algo)
    if known.conf_file is not None or path is None:
        return argv
    return [*argv, "--conf-file", str(path)]


class EnjoyLoader:
    """An algorithm of the package as rl-zoo3's ``enjoy`` should load it: with a one-transition replay buffer.

    ``enjoy`` passes ``buffer_size=1`` (and ``optimize_memory_usage=False``) only to the
    off-policy algorithms of a list written inside the function, so a full-size buffer (1e6
    transitions, several GB of address space on Humanoid) would be allocated for an agent that
    only acts. ``enjoy`` only calls ``ALGOS[algo].load``: ``python -m sb3_iterative.enjoy`` puts a
    loader there for each of :data:`ALGORITHMS` in its own process. ``load`` returns the
    algorithm's own class (:class:`IterativeSAC`, :class:`IterativeTQC`).
    """

    def __init__(self, algorithm: type[OffPolicyAlgorithm]):
        self.algorithm = algorithm

    def load(self, *args: Any, **kwargs: Any) -> OffPolicyAlgorithm:
        return self.algorithm.load(*args, **{"buffer_size": 1, "optimize_memory_usage": False, **kwargs})


def sample_iterative_sac_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """Optuna sampler for IterativeSAC: rl-zoo3's SAC search space plus the paper's options.

    - ``n_iterations`` K in [1, 10] (the paper: 5; more at test time helps, its Fig. 21)
    - ``n_action_samples`` N in [1, 10], log scale (the authors' code: 10)
    - ``beta`` β in [0, 4] (the paper: 1.5 on Hopper, 2.5 elsewhere; 1 is SAC's min over two critics)
    - ``critic_arch`` "A" or "B". With "B" the critic is the paper's 3 × 512 highway network and
      the sampled ``net_arch`` shapes the actor only: highway layers need equal widths, and
      rl-zoo3's ``net_arch`` choices include [400, 300].

    ``beta_collect`` stays 1, as in the paper.
    """
    hyperparams = sample_sac_params(trial, n_actions, n_envs, additional_args)
    iterative = {
        "n_iterations": trial.suggest_int("n_iterations", 1, 10),
        "n_action_samples": trial.suggest_int("n_action_samples", 1, 10, log=True),
        "beta": trial.suggest_float("beta", 0.0, 4.0),
        "critic_arch": trial.suggest_categorical("critic_arch", ["A", "B"]),
    }
    return add_iterative_params(hyperparams, iterative)


def convert_iterative_sac_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """A stored trial's parameters (Optuna's names) as IterativeSAC hyperparameters, as the sampler built them.

    rl-zoo3 calls it to train with ``--storage ... --study-name ... --trial-id N``.
    """
    sac_params = {key: value for key, value in sampled_params.items() if key not in ITERATIVE_SEARCH}
    iterative = {key: sampled_params[key] for key in ITERATIVE_SEARCH}
    return add_iterative_params(convert_offpolicy_params(sac_params), iterative)


def add_iterative_params(sac_hyperparams: dict[str, Any], iterative: dict[str, Any]) -> dict[str, Any]:
    """SAC hyperparameters (rl-zoo3's conversion) with the sampled iterative options placed:
    ``beta`` as an algorithm argument, the others as policy keywords."""
    policy_kwargs = dict(sac_hyperparams.get("policy_kwargs", {}))
    policy_kwargs.update(
        n_iterations=iterative["n_iterations"],
        n_action_samples=iterative["n_action_samples"],
        critic_arch=iterative["critic_arch"],
    )
    if iterative["critic_arch"] == "B":
        policy_kwargs["net_arch"] = dict(pi=policy_kwargs["net_arch"], qf=list(HIGHWAY_NET_ARCH))
    return {**sac_hyperparams, "beta": iterative["beta"], "policy_kwargs": policy_kwargs}


def sample_iterative_tqc_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """Optuna sampler for IterativeTQC: rl-zoo3's TQC search space (SAC's, plus ``n_quantiles`` and
    ``top_quantiles_to_drop_per_net``) plus ``n_iterations`` K in [1, 10] and ``n_action_samples`` N
    in [1, 10], log scale, as for IterativeSAC. J's truncation while training (``beta``) follows
    ``top_quantiles_to_drop_per_net``, IterativeTQC's default, so the search does not sample it.
    """
    hyperparams = sample_tqc_params(trial, n_actions, n_envs, additional_args)
    iterative = {
        "n_iterations": trial.suggest_int("n_iterations", 1, 10),
        "n_action_samples": trial.suggest_int("n_action_samples", 1, 10, log=True),
    }
    return {**hyperparams, "policy_kwargs": {**hyperparams.get("policy_kwargs", {}), **iterative}}


def convert_iterative_tqc_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """A stored trial's parameters as IterativeTQC hyperparameters, as :func:`sample_iterative_tqc_params` built them."""
    hyperparams = convert_offpolicy_params(
        {key: value for key, value in sampled_params.items() if key not in ITERATIVE_TQC_SEARCH}
    )
    iterative = {key: sampled_params[key] for key in ITERATIVE_TQC_SEARCH}
    return {**hyperparams, "policy_kwargs": {**hyperparams.get("policy_kwargs", {}), **iterative}}


def sample_iterative_crossq_params(
    trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict[str, Any]
) -> dict[str, Any]:
    """Optuna sampler for IterativeCrossQ. rl-zoo3 has no CrossQ search space: this is its SAC space
    without τ (CrossQ has no target networks), with ``net_arch`` shaping the actor, plus CrossQ's own
    choices and the paper's options:

    - ``critic_width``: the critics' two hidden layers, 256, 1024 or 2048 wide (CrossQ's paper: 2048)
    - ``policy_delay`` in [1, 5] (CrossQ's default: 3)
    - ``n_iterations`` K in [1, 10] and ``n_action_samples`` N in [1, 10], log scale, as for IterativeSAC

    β and ``beta_collect`` keep their defaults (2.5 and 1), as in the paper.
    """
    one_minus_gamma = trial.suggest_float("one_minus_gamma", 0.0001, 0.03, log=True)
    batch_size_pow = trial.suggest_int("batch_size_pow", 5, 11)
    trial.set_user_attr("gamma", 1 - one_minus_gamma)
    trial.set_user_attr("batch_size", 2**batch_size_pow)
    params = {
        "one_minus_gamma": one_minus_gamma,
        "batch_size_pow": batch_size_pow,
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 0.002, log=True),
        "train_freq": trial.suggest_int("train_freq", 1, 10),
        "net_arch": trial.suggest_categorical("net_arch", ["small", "medium", "big"]),
    }
    iterative = {
        "critic_width": trial.suggest_categorical("critic_width", list(CRITIC_WIDTHS)),
        "policy_delay": trial.suggest_int("policy_delay", 1, 5),
        "n_iterations": trial.suggest_int("n_iterations", 1, 10),
        "n_action_samples": trial.suggest_int("n_action_samples", 1, 10, log=True),
    }
    return add_iterative_crossq_params(convert_offpolicy_params(params), iterative)


def convert_iterative_crossq_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """A stored trial's parameters as IterativeCrossQ hyperparameters, as :func:`sample_iterative_crossq_params` built them."""
    offpolicy = {key: value for key, value in sampled_params.items() if key not in ITERATIVE_CROSSQ_SEARCH}
    iterative = {key: sampled_params[key] for key in ITERATIVE_CROSSQ_SEARCH}
    return add_iterative_crossq_params(convert_offpolicy_params(offpolicy), iterative)


def add_iterative_crossq_params(hyperparams: dict[str, Any], iterative: dict[str, Any]) -> dict[str, Any]:
    """Off-policy hyperparameters (rl-zoo3's conversion) with CrossQ's and the iterative options placed:
    ``policy_delay`` as an algorithm argument, the critic width and K, N as policy keywords."""
    policy_kwargs = dict(hyperparams.get("policy_kwargs", {}))
    width = iterative["critic_width"]
    policy_kwargs.update(
        net_arch=dict(pi=policy_kwargs["net_arch"], qf=[width, width]),
        n_iterations=iterative["n_iterations"],
        n_action_samples=iterative["n_action_samples"],
    )
    return {**hyperparams, "policy_delay": iterative["policy_delay"], "policy_kwargs": policy_kwargs}
