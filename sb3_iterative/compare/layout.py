"""The file names a comparison's log folder holds beside rl-zoo3's own (see :mod:`sb3_iterative.compare.sweep`).

A light module: the report reads a log folder with them without importing the sweep (and torch).
"""

# Written into a run's folder when the sweep publishes it: the settings, the command, the wall time
MARKER = "compare.json"
# A run's output (stdout and stderr of its training process)
LOG_NAME = "train.log"
