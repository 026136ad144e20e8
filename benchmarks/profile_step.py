"""Where a training step and an act go: torch.profiler over a few of each, as markdown tables.

For SAC and IterativeSAC (K = 5, N = 1) on HalfCheetah-v5 with a filled buffer: the operators by total time
(self CPU time, and self device time on CUDA), and the count of operator calls and of device kernels per
training step and per ``predict`` on one observation: on a GPU, a step bound by dispatch costs what its
launches cost, whatever the arithmetic.

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


def build(algorithm, env: str, device: str):
    model = algorithm("MlpPolicy", env, learning_starts=1000, batch_size=256, seed=0, device=device)
    model.learn(1000)  # random actions fill the buffer
    model.train(2, batch_size=256)  # warm-up
    return model


def profiled(function, repeats: int, device: str):
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
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
    lines = [f"aten operator calls per call: {operators / repeats:.0f}; device kernels per call: {kernels / repeats:.0f}", ""]
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
    for algorithm in (SAC, IterativeSAC):
        model = build(algorithm, args.env, args.device)
        obs = model.get_env().reset()
        for what, function in (
            ("training step", lambda m=model: m.train(1, 256)),
            ("predict", lambda m=model, o=obs: m.predict(o)),
        ):
            prof = profiled(function, args.steps, device.type)
            parts.append(f"\n## {algorithm.__name__}, {what}\n\n{summary(prof, args.steps, device.type, args.rows)}")
    text = "\n".join(parts)
    print(text)
    if args.out:
        with open(args.out, "w") as file:
            file.write(text + "\n")


if __name__ == "__main__":
    main()
