"""Why compiling a critic's gradient is slower than eager on some CPUs: one ReLU network, eager against compiled.

SB3's critic (2 x 256, ReLU) on a batch of 256, its output summed and differentiated with respect to its input
(what J's gradient does), the parameters constants. Prints the time per call of each and, for the compiled one,
its generated kernels by self time (inductor's kernel profile): on the 2-core AMD EPYC with torch 2.13.0+cpu,
the fused kernel that applies ReLU and stores the backward's mask takes about 100 times an eager ReLU. Then the
cause alone: a comparison's boolean result stored by inductor's vectorized code, by its scalar code
(``cpp.simdlen=1``) and by eager PyTorch.

    python benchmarks/compiled_relu.py
"""

import argparse
import platform
import time

import torch as th
import torch._inductor.config as inductor_config
from torch import nn
from torch.profiler import ProfilerActivity, profile


def gradient_call(function, inputs: th.Tensor) -> th.Tensor:
    inputs = inputs.clone().requires_grad_(True)
    (gradient,) = th.autograd.grad(function(inputs), inputs)
    return gradient


def time_per_call(function, inputs: th.Tensor, repeats: int) -> float:
    for _ in range(10):
        gradient_call(function, inputs)
    start = time.perf_counter()
    for _ in range(repeats):
        gradient_call(function, inputs)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    th.set_num_threads(1)
    th.manual_seed(0)
    inductor_config.cpp.enable_kernel_profile = True
    network = nn.Sequential(nn.Linear(23, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1))
    network.requires_grad_(False)

    def value(inputs: th.Tensor) -> th.Tensor:
        return network(inputs).sum()

    compiled = th.compile(value, dynamic=False)
    inputs = th.randn(256, 23)
    eager_time, compiled_time = time_per_call(value, inputs, args.repeats), time_per_call(compiled, inputs, args.repeats)
    print(f"{platform.processor() or platform.machine()}, torch {th.__version__}, one thread")
    print(f"forward and input gradient: eager {eager_time * 1e3:.3f} ms, compiled {compiled_time * 1e3:.3f} ms")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            gradient_call(compiled, inputs)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=6))

    def mask(inputs: th.Tensor) -> th.Tensor:
        return inputs <= 0

    hidden = th.randn(256, 256)
    for label, function in (
        ("compiled, vectorized", th.compile(mask, dynamic=False)),
        ("compiled, scalar (cpp.simdlen=1)", th.compile(mask, dynamic=False, options={"cpp.simdlen": 1})),
        ("eager", mask),
    ):
        for _ in range(10):
            function(hidden)
        start = time.perf_counter()
        for _ in range(args.repeats):
            function(hidden)
        per_call = (time.perf_counter() - start) / args.repeats
        print(f"a 256 x 256 comparison stored as booleans, {label}: {per_call * 1e6:.0f} us")


if __name__ == "__main__":
    main()
