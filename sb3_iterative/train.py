"""``python -m sb3_iterative.train``: rl-zoo3's ``train`` with ``iterative_sac`` registered.

Takes every flag of ``python -m rl_zoo3.train`` unchanged, and runs every rl-zoo3 algorithm, so
one command line runs both sides of a comparison::

    python -m sb3_iterative.train --algo iterative_sac --env HalfCheetah-v5 --seed 1 -f logs
    python -m sb3_iterative.train --algo sac --env HalfCheetah-v5 --seed 1 -f logs

Without ``-conf``, ``iterative_sac`` and ``sac`` read the package's hyperparameter files (the
paper's settings, one budget for both); the other algorithms read rl-zoo3's own.
"""

import sys

from rl_zoo3.train import train

from sb3_iterative.zoo import register, with_default_conf


def main() -> None:
    register()
    sys.argv[1:] = with_default_conf(sys.argv[1:])
    train()


if __name__ == "__main__":
    main()
