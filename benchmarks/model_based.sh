#!/usr/bin/env bash
# The model-based runs behind BENCHMARKS.md ("Model-based value estimates"): on Pendulum-v1,
# model-free iterative, model-based iterative and model-based direct agents, 3 seeds each, with a
# checkpoint every 1 000 steps (for the transfer of Fig. 9, benchmarks/transfer.py); on
# HalfCheetah-v5, one model-based iterative run. Both sweeps run at once, 3 workers on 2 cores
# (one torch thread each). Interrupted, it resumes where it stopped: run it again.
#
#   bash benchmarks/model_based.sh [LOGDIR] [REPORTDIR]   (defaults: logs/model_based benchmarks/report_model_based)
set -euo pipefail
LOGS=${1:-logs/model_based}
REPORT=${2:-benchmarks/report_model_based}

python -m sb3_iterative.compare --env Pendulum-v1 --algo iterative_sac_mb iterative_sac direct_sac_mb \
    --seeds 3 -n 10000 --save-freq 1000 --workers 2 -f "$LOGS/pendulum" &
python -m sb3_iterative.compare --env HalfCheetah-v5 --algo iterative_sac_mb --seeds 1 -n 15000 \
    --eval-freq 1500 --eval-episodes 2 --save-freq 5000 --workers 1 -f "$LOGS/halfcheetah" &
wait
python -m sb3_iterative.compare --report -f "$LOGS/pendulum" --out "$REPORT/pendulum"
python -m sb3_iterative.compare --report -f "$LOGS/halfcheetah" --out "$REPORT/halfcheetah"
