"""``python -m sb3_iterative.enjoy``: rl-zoo3's ``enjoy`` for models trained by ``sb3_iterative.train``.

Takes every flag of ``python -m rl_zoo3.enjoy`` unchanged::

    python -m sb3_iterative.enjoy --algo iterative_sac --env HalfCheetah-v5 -f logs --no-render -n 5000

An IterativeSAC or IterativeTQC model loads as rl-zoo3 loads SAC and TQC: with a one-transition
replay buffer (see :class:`sb3_iterative.zoo.EnjoyLoader`).
"""

from rl_zoo3.enjoy import enjoy

from sb3_iterative.zoo import register_for_loading


def main() -> None:
    register_for_loading()
    enjoy()


if __name__ == "__main__":
    main()
