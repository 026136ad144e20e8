#!/usr/bin/env bash
# The comparison behind BENCHMARKS.md: stock SAC against IterativeSAC, each with the package's
# hyperparameter files (sb3_iterative/hyperparams/), at budgets that fit a 2-core machine.
# Two runs at a time, one torch thread each. Interrupted, it resumes where it stopped: run it again.
# iterative_sac is listed first so that its runs (about 3.5x longer than SAC's) start first and the
# two workers finish together; the order changes nothing in the runs themselves.
#
#   bash benchmarks/compare.sh [LOGDIR] [REPORTDIR]      (defaults: logs/benchmarks benchmarks/report)
set -euo pipefail
LOGS=${1:-logs/benchmarks}
REPORT=${2:-benchmarks/report}

python -m sb3_iterative.compare --env Pendulum-v1 --algo iterative_sac sac --seeds 5 -n 20000 --workers 2 -f "$LOGS"
python -m sb3_iterative.compare --env HalfCheetah-v5 InvertedDoublePendulum-v5 --algo iterative_sac sac \
    --seeds 3 -n 50000 --workers 2 -f "$LOGS"
python -m sb3_iterative.compare --report -f "$LOGS" --out "$REPORT"
