"""Compiled training and acting (``compile_training``, ``compile_acting``): what goes through ``torch.compile`` and
with which settings, in one place. The algorithm and the policy call these; the compiled functions are theirs
(``IterativeAmortization._update``, ``IterativeActor.optimized_parameters``), unchanged."""

from collections.abc import Callable
from typing import Any

import torch as th

# torch.compile's modes, which compile_training takes by name (True: its default)
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


def check_compile_training(value: Any) -> None:
    if not (isinstance(value, bool) or value in COMPILE_MODES):
        raise ValueError(
            f"compile_training must be True, False or one of torch.compile's modes {COMPILE_MODES}, got {value!r}"
        )


def dynamo_config(**settings: Any) -> Any:
    """``torch._dynamo.config.patch`` of the settings this torch has (older releases lack some; the dependency
    allows torch >= 2.3)."""
    return th._dynamo.config.patch(**{name: value for name, value in settings.items() if hasattr(th._dynamo.config, name)})


def compile_update(update: Callable[..., None], mode: bool | str) -> Callable[..., None]:
    """A gradient step's updates through ``torch.compile`` (compiled on first call), with ``compile_training``'s mode
    (True: torch.compile's default).

    The random draws are eager's (inductor's ``fallback_random``), so that a compiled run draws the numbers an eager one
    does. Dynamo's ``trace_autograd_ops`` stays off here: with it, ``loss.backward()`` inside the graph leaves the
    parameters' ``.grad`` unset (torch 2.13), so an estimate's ``torch.autograd.grad`` (a model's) breaks the graph
    instead. Static shapes: one graph per configuration (K, N, batch size), none with symbolic sizes."""
    compiled = th.compile(update, mode=mode if isinstance(mode, str) else None, dynamic=False)

    def compiled_update(*args: Any) -> None:
        # each optimizer's step is a graph of its own (dynamo guards on the optimizer): a model has up to five,
        # and a process may hold several models, more than the default limit of 8 before falling back to eager
        with th._inductor.config.patch(fallback_random=True), dynamo_config(recompile_limit=64):
            compiled(*args)

    return compiled_update


def compile_acting(
    optimized_parameters: Callable[..., tuple[th.Tensor, th.Tensor]],
) -> Callable[..., tuple[th.Tensor, th.Tensor]]:
    """The iterative optimizer's acting path (tensors in, λ_K out) through ``torch.compile`` (compiled on first call
    for each batch size; C++ wrapper code, whose calls cost less than Python's)."""
    compiled = th.compile(optimized_parameters, dynamic=False, options={"cpp_wrapper": True})

    def compiled_parameters(*args: Any) -> tuple[th.Tensor, th.Tensor]:
        # an estimate differentiated by autograd (a model's) keeps its torch.autograd.grad in the graph
        # (torch >= 2.13; an older one breaks the graph there)
        with dynamo_config(trace_autograd_ops=True):
            return compiled(*args)

    return compiled_parameters


def set_learning_rate(optimizers: list[th.optim.Optimizer], rate: float) -> None:
    """``rate`` into every optimizer as a 0-d tensor on its parameters' device, filled in place (``compile_training``):
    the compiled optimizer steps read it as an input, where a Python float would be a constant they are specialized on
    (a schedule would recompile them at every ``train()`` call)."""
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            device = group["params"][0].device  # where the group's step runs
            if isinstance(group["lr"], th.Tensor) and group["lr"].device == device:
                group["lr"].fill_(rate)
            else:  # the first call, or optimizers loaded from a file
                group["lr"] = th.tensor(float(rate), device=device)
