"""Where a training step and an act go: torch.profiler over a few of each, as markdown tables.

For SAC, IterativeSAC (K = 5, N = 1) and IterativeSAC with the model-based estimate (h = 2) on HalfCheetah-v5
with a filled buffer: the operators by total time (self CPU time, and self device time on CUDA), and per
training step and per ``predict`` on one observation the count of operator calls and of device kernels, the
floating-point operations of the matrix products (torch.profiler's count) and the matrix products' share of the
operators' self CPU time. On a GPU, a step bound by dispatch costs what its launches cost, whatever the
arithmetic; on a CPU whose matrix products take most of a step, the step costs at least its FLOPs.

    python benchmarks/profile_step.py                      # on the CPU
    python benchmarks/profile_step.py --device cuda --steps 20 --out profile.md
"""

import argparse
import platform
from datetime import date

import torch as th
from stable_baselines3 import SAC
from torch.profiler import ProfilerActivity, profile

from sb3_iterative import IterativeSAC

# What is profiled: a name, the algorithm and its keywords (the model-based estimate without its model's
# pre-training, which would only lengthen the warm-up)
AGENTS = (
    ("SAC", SAC, {}),
    ("IterativeSAC", IterativeSAC, {}),
    (
        "IterativeSAC, model-based h=2",
        IterativeSAC,
        dict(policy_kwargs=dict(value_estimator="model"), model_pretrain_steps=0),
    ),
)
# The matrix products, whose FLOPs torch.profiler counts
MATRIX_PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul")


def build(algorithm, env: str, device: str, **kwargs):
    model = algorithm("MlpPolicy", env, learning_starts=1000, batch_size=256, seed=0, device=device, **kwargs)
    model.learn(1000)  # random actions fill the buffer
    model.train(2, batch_size=256)  # warm-up
    return model


def profiled(function, repeats: int, device: str):
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities, with_flops=True) as prof:
        for _ in range(repeats):
            function()
        if device == "cuda":
            th.cuda.synchronize()
    return prof


def summary(prof, repeats: int, device: str, rows: int) -> str:
    events = prof.key_averages()
    operators = sum(event.count for event in events if event.key.startswith("aten::"))
    kernels = sum(event.count for event in prof.events() if event.device_type == th.autograd.DeviceType.CUDA)
    sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
    flops = sum(event.flops for event in events)
    self_time = sum(event.self_cpu_time_total for event in events)
    products = sum(event.self_cpu_time_total for event in events if event.key in MATRIX_PRODUCTS)
    lines = [
        f"aten operator calls per call: {operators / repeats:.0f}; device kernels per call: {kernels / repeats:.0f}; "
        f"matrix products: {flops / repeats / 1e9:.3f} GFLOP per call, {products / max(self_time, 1):.0%} of the "
        "operators' self CPU time",
        "",
    ]
    lines.append("```")
    lines.append(events.table(sort_by=sort, row_limit=rows))
    lines.append("```")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10, help="training steps (and predict calls) profiled")
    parser.add_argument("--rows", type=int, default=20)
    parser.add_argument("--out", default=None, help="write the markdown here too")
    args = parser.parse_args()
    th.set_num_threads(1)
    device = th.device(args.device)
    name = th.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    cuda = f", CUDA {th.version.cuda}" if device.type == "cuda" else ""
    parts = [
        f"# Profile, {args.env}, batch 256, {args.steps} calls each; {name}, torch {th.__version__}{cuda}; {date.today()}"
    ]
    print(parts[0])
    for label, algorithm, kwargs in AGENTS:
        model = build(algorithm, args.env, args.device, **kwargs)
        obs = model.get_env().reset()
        for what, function in (
            ("training step", lambda m=model: m.train(1, 256)),
            ("predict", lambda m=model, o=obs: m.predict(o)),
        ):
            prof = profiled(function, args.steps, device.type)
            parts.append(f"\n## {label}, {what}\n\n{summary(prof, args.steps, device.type, args.rows)}")
            print(parts[-1], flush=True)
            if args.out:  # written after each part: a run cut by a time limit keeps what it profiled
                with open(args.out, "w") as file:
                    file.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()
