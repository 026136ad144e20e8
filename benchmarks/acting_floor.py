"""Where the time of one ``predict`` goes, and the floor under it: a markdown table.

For SAC and IterativeSAC (K iterations, N = 1) on one observation of HalfCheetah-v5 (one torch thread):
- ``predict``, and SB3's wrapper around the policy's ``_predict`` (training mode, the observation
  to a tensor, the action back to numpy, clipping), timed with a ``_predict`` that answers at once;
- every tensor operation one ``_predict`` dispatches, recorded with their arguments (a
  ``TorchDispatchMode``), split into the matrix products and the rest;
- the matrix products replayed alone, with the same shapes and strides, back to back: what the
  products cost with no other operation between them;
- every operation replayed the same way, in inference mode: what the operations themselves cost,
  with no Python of the package between them (each replayed call still pays the operator registry's
  own dispatch, so this is an upper bound of that cost, not a floor), and its share of ``_predict``
  (the median of each round's ratio: every round times all of these one after the other);
- the cheapest tensor operation on this machine (a sum of two [1, |A|] tensors).

From these: what the operations other than the products may cost each for ``predict`` to take
``--goal`` ms, against what the cheapest one does cost.

    python benchmarks/acting_floor.py
    python benchmarks/acting_floor.py --iterations 1 5 10 --goal 1.0
"""

import argparse
import functools
import statistics
from collections.abc import Callable
from datetime import date
from typing import Any

import gymnasium as gym
import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from torch.utils._python_dispatch import TorchDispatchMode

from sb3_iterative import IterativeSAC

from speed import cpu_name, seconds_per_call  # benchmarks/speed.py, beside this script

# the matrix products (linear stays one operation in inference mode)
PRODUCTS = {
    th.ops.aten.mm.default,
    th.ops.aten.addmm.default,
    th.ops.aten.bmm.default,
    th.ops.aten.baddbmm.default,
    th.ops.aten.linear.default,
}


def microseconds(function: Callable[[], object], calls: int, rounds: int) -> float:
    """Median over ``rounds`` of the mean time of ``calls`` calls, in µs."""
    return statistics.median(seconds_per_call(function, calls) * 1e6 for _ in range(rounds))


Operation = tuple[Any, tuple, dict]


class Recorder(TorchDispatchMode):
    """Keeps every operation dispatched with its arguments (the tensors themselves: shapes and strides as they were)."""

    def __init__(self) -> None:
        super().__init__()
        self.operations: list[Operation] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        self.operations.append((func, args, kwargs))
        return func(*args, **kwargs)

    @property
    def products(self) -> list[Operation]:
        return [operation for operation in self.operations if operation[0] in PRODUCTS]


def replay(operations: list[Operation]) -> None:
    for func, arguments, kwargs in operations:
        func(*arguments, **kwargs)


def policy_predict(model: BaseAlgorithm, obs_tensor: th.Tensor) -> Callable[[], object]:
    def call() -> object:
        with th.no_grad():
            return model.policy._predict(obs_tensor)

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--iterations", type=int, nargs="+", default=[5], help="values of K")
    parser.add_argument("--goal", type=float, default=1.0, help="the predict time to account for (ms)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    th.set_num_threads(1)

    env = gym.make(args.env)
    obs, _ = env.reset(seed=0)
    obs_tensor = th.as_tensor(obs[None], dtype=th.float32)
    action_dim = env.action_space.shape[0]
    models: dict[str, BaseAlgorithm] = {"SAC": SAC("MlpPolicy", env, seed=0)}
    for k in args.iterations:
        models[f"IterativeSAC K={k}"] = IterativeSAC(
            "MlpPolicy", env, seed=0, policy_kwargs=dict(n_iterations=k, n_action_samples=1)
        )

    small = th.zeros(1, action_dim)
    cheapest = microseconds(lambda: small + small, args.calls * 10, args.rounds)
    print(
        f"{args.env}, one observation, stochastic actions, 1 torch thread; {cpu_name()}, torch {th.__version__}; "
        f"{date.today()}; median of {args.rounds} rounds of {args.calls} calls\n"
    )
    print(
        "| policy | predict (µs) | SB3's wrapper (µs) | _predict (µs) | operations | of them products "
        f"| products alone (µs) | other operations (µs) | each, for {args.goal:g} ms (µs) | all operations alone (µs) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, model in models.items():
        for _ in range(20):
            model.predict(obs)
        recorder = Recorder()
        with recorder:
            policy_predict(model, obs_tensor)()
        products = recorder.products
        # Each round times the four alike, one after the other, so that the machine's drift moves them together.
        # SB3's wrapper alone: predict with the policy's _predict answering at once.
        action = policy_predict(model, obs_tensor)()
        totals, wrappers, products_times, operations_times = [], [], [], []
        for _ in range(args.rounds):
            totals.append(microseconds(lambda m=model: m.predict(obs), args.calls, 1))
            model.policy._predict = lambda observation, deterministic=False, a=action: a  # type: ignore[method-assign]
            wrappers.append(microseconds(lambda m=model: m.predict(obs), args.calls, 1))
            del model.policy._predict
            with th.no_grad():
                products_times.append(microseconds(functools.partial(replay, products), args.calls, 1))
            with th.inference_mode():  # in-place operations on the recorded inference tensors need it
                operations_times.append(microseconds(functools.partial(replay, recorder.operations), args.calls, 1))
        total, wrapper = statistics.median(totals), statistics.median(wrappers)
        products_alone, operations_alone = statistics.median(products_times), statistics.median(operations_times)
        share = statistics.median(
            operations / (round_total - round_wrapper)
            for operations, round_total, round_wrapper in zip(operations_times, totals, wrappers, strict=True)
        )
        inner = total - wrapper
        n_operations = len(recorder.operations)
        n_other = n_operations - len(products)
        other = inner - products_alone
        budget = (args.goal * 1e3 - wrapper - products_alone) / max(n_other, 1)
        print(
            f"| {name} | {total:.0f} | {wrapper:.0f} | {inner:.0f} | {n_operations} | {len(products)} "
            f"| {products_alone:.0f} | {other:.0f} ({other / max(n_other, 1):.1f} each) | {budget:.1f} "
            f"| {operations_alone:.0f} ({share:.2f} of _predict) |"
        )
    print(f"\nThe cheapest tensor operation here (a sum of two [1, {action_dim}] tensors): {cheapest:.2f} µs.")


if __name__ == "__main__":
    main()
