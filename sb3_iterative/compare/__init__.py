"""The comparison harness: does IterativeSAC beat SAC on a task, at a budget?

- :mod:`~sb3_iterative.compare.sweep`: one rl-zoo3 run per (algorithm, environment, seed),
  through ``python -m sb3_iterative.train``, in rl-zoo3's log layout, resumable;
- :mod:`~sb3_iterative.compare.executors`: where the runs train (local worker processes, Ray tasks);
- :mod:`~sb3_iterative.compare.report`: learning curves (the paper's Figure 5), a table per
  environment (final return, area under the curve, steps per second, difference to SAC with
  Welch's confidence interval) and the raw numbers as CSV.

``python -m sb3_iterative.compare`` is the command line.
"""
