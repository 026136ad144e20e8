"""``python -m sb3_iterative.enjoy``: rl-zoo3's ``enjoy`` for models trained by ``sb3_iterative.train``.

Takes every flag of ``python -m rl_zoo3.enjoy`` unchanged::

    python -m sb3_iterative.enjoy --algo iterative_sac --env HalfCheetah-v5 -f logs --no-render -n 5000

An IterativeSAC or IterativeTQC model loads as rl-zoo3 loads SAC and TQC: with a one-transition
replay buffer (see :class:`sb3_iterative.zoo.EnjoyLoader`).
"""

from rl_zoo3.enjoy import enjoy
from rl_zoo3.utils import ALGOS

from sb3_iterative.zoo import ALGORITHMS, EnjoyLoader, register


def main() -> None:
    register()
    for algo, algorithm in ALGORITHMS.items():
        ALGOS[algo] = EnjoyLoader(algorithm)  # type: ignore[assignment]  # enjoy only calls its load
    enjoy()


if __name__ == "__main__":
    main()
