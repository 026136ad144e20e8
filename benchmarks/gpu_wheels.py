"""Download the wheels that ``benchmarks/gpu_check.sh`` installs on a GPU machine without network.

Run it here, in the project's environment (where pip reaches PyPI): it pins each distribution to the version
installed here, the versions the CPU tests ran with, and downloads the wheel for the GPU machine's Python and
platform, without dependencies (the list is the closure the CUDA tests and ``speed.py`` import, less torch,
pytest and what they bring, which the GPU machine has). rl-zoo3, scipy and pandas are left out to stay under
the 64 MiB a device call carries: the CUDA tests do not import them.

    python benchmarks/gpu_wheels.py                       # into gpu_wheels/ (ignored by git), for CPython 3.12
    python benchmarks/gpu_wheels.py --python-version 3.12 --out gpu_wheels
"""

import argparse
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

DISTRIBUTIONS = (
    # the algorithms and their environments
    "stable-baselines3",
    "sb3-contrib",
    "gymnasium",
    "farama-notifications",
    "cloudpickle",
    "numpy",
    "mujoco",
    "mujoco-core",
    "glfw",
    "imageio",
    "zuko",
    # what SB3 imports with them
    "tqdm",
    "rich",
    "markdown-it-py",
    "mdurl",
    "psutil",
    # the analyses' figures (sb3_iterative.analysis and analyze import matplotlib)
    "matplotlib",
    "contourpy",
    "cycler",
    "fonttools",
    "kiwisolver",
    "pillow",
    "pyparsing",
    "python-dateutil",
    "six",
    # the tests on several workers
    "pytest-xdist",
    "execnet",
)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default="3.12", help="the GPU machine's Python (major.minor)")
    parser.add_argument("--out", default="gpu_wheels")
    args = parser.parse_args()
    pins = [f"{name}=={version(name)}" for name in DISTRIBUTIONS]
    platforms = [option for platform in PLATFORMS for option in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", args.python_version, *platforms, "--dest", args.out, *pins]
    subprocess.run(command, check=True)
    wheels = sorted(Path(args.out).glob("*.whl"))
    size = sum(wheel.stat().st_size for wheel in wheels) / 2**20
    print(f"{len(wheels)} wheels, {size:.1f} MiB in {args.out}/")


if __name__ == "__main__":
    main()
