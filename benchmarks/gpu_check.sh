#!/usr/bin/env bash
# Everything the package has to show on a GPU, in one command, on a machine with Python, a CUDA build of torch
# and pytest but no network: install the dependencies from the wheels carried beside the checkout, run the CUDA
# tests, time every algorithm on CUDA (benchmarks/speed.py --device cuda) and profile a training step and an act
# (benchmarks/profile_step.py). Each stage has its own time limit, so that a slow one leaves the rest their turn;
# the whole takes under 8 minutes on one H100.
#
# Prepare the wheels where pip reaches PyPI (they are not committed; 27 wheels, about 50 MiB):
#   python benchmarks/gpu_wheels.py --python-version 3.12 --out gpu_wheels
# Then, on the GPU machine, from the checkout's root:
#   bash benchmarks/gpu_check.sh [WHEELS] [OUT]      (defaults: gpu_wheels gpu_out)
# OUT receives gpu.txt (GPU, driver, torch and CUDA versions), cuda_tests.txt, speed_cuda.md, speed_cuda_compiled.md
# and profile_cuda.md (at most 8 files come back from a device call).
# GPU_CHECK_DEVICE=cpu runs the same stages on the CPU, to try the script itself where there is no GPU.
set -uo pipefail
WHEELS=${1:-gpu_wheels}
OUT=${2:-gpu_out}
DEVICE=${GPU_CHECK_DEVICE:-cuda}
mkdir -p "$OUT"

if [ "$DEVICE" = cuda ]; then
  python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this check needs one')" || exit 1
fi
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  python -c "import platform, torch; print('python', platform.python_version(), '| torch', torch.__version__, '| CUDA', torch.version.cuda, '| cuDNN', torch.backends.cudnn.version())"
  nproc
} 2>&1 | tee "$OUT/gpu.txt"

# The dependencies, each pinned wheel without its own dependencies (the list is their closure, less torch and
# pytest); numpy stays as the machine has it when it has one, so that torch keeps the numpy it was built with.
wheels=$(ls "$WHEELS"/*.whl 2>/dev/null) || { echo "no wheels in $WHEELS: prepare them with benchmarks/gpu_wheels.py" >&2; exit 1; }
if python -c "import numpy" 2>/dev/null; then wheels=$(ls "$WHEELS"/*.whl | grep -v '/numpy-'); fi
# shellcheck disable=SC2086
PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore python -m pip install --quiet --no-index --no-deps $wheels 2>&1 | tail -3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the package from the checkout, without building it
python -c "import sb3_iterative, stable_baselines3, gymnasium; print('sb3_iterative', sb3_iterative.__version__, '| SB3', stable_baselines3.__version__, '| gymnasium', gymnasium.__version__)" 2>&1 | tee -a "$OUT/gpu.txt"

# The CUDA tests: every test of the device fixture, on CUDA
# (and both directions of the cross-device load: a model saved on the CPU loads on CUDA, and the other way)
timeout 120 python -m pytest tests/test_algorithms.py tests/test_critics.py tests/test_model_based_agent.py \
  tests/test_save_load.py -k "cuda or loads_on_the_other" -q -n 4 -p no:cacheprovider 2>&1 | tail -40 | tee "$OUT/cuda_tests.txt"
tests_status=${PIPESTATUS[0]}

# The speed on CUDA, in two runs (each prints its tables after each of its two rounds, so a run cut by its time
# limit keeps its first round), eager SAC in both: every algorithm eagerly; then compiled, where the goals are IterativeSAC compiled's
# learn() steps/s against SAC eager's, IterativeSAC compiled ÷ SAC compiled per training step (the per-base
# table) and predict with compile_acting
SPEED="python benchmarks/speed.py --device $DEVICE --rounds 2 --gradient-steps 10 --predict-calls 50 --learn-steps 100 --report-each-round"
timeout 100 $SPEED --configurations "IterativeSAC K=5 N=1" "IterativeSAC K=5 N=1, model-based h=2" TQC \
  "IterativeTQC K=5 N=1" 2>&1 | grep -v -i warn | tee "$OUT/speed_cuda.md"
timeout 200 $SPEED --configurations "IterativeSAC K=5 N=1" "IterativeSAC K=5 N=1, compiled" "SAC, compiled" \
  "IterativeSAC K=5 N=1, compiled reduce-overhead" "SAC, compiled reduce-overhead" \
  "IterativeSAC K=5 N=1, compile_acting" 2>&1 | grep -v -i warn | tee "$OUT/speed_cuda_compiled.md"

# Where the time of a step and an act goes
timeout 40 python benchmarks/profile_step.py --device "$DEVICE" --steps 10 --rows 15 --out "$OUT/profile_cuda.md" >/dev/null 2>&1
tail -5 "$OUT/profile_cuda.md" 2>/dev/null
echo "gpu_check done: $(ls "$OUT"); the CUDA tests' exit status: $tests_status"
exit "$tests_status"
