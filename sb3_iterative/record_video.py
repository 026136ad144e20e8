"""``python -m sb3_iterative.record_video``: rl-zoo3's ``record_video`` for every algorithm the package registers.

Takes every flag of ``python -m rl_zoo3.record_video`` unchanged::

    python -m sb3_iterative.record_video --algo iterative_sac --env HalfCheetah-v5 -f logs -n 1000

The models load as ``enjoy`` loads them (a one-transition replay buffer: :class:`sb3_iterative.zoo.EnjoyLoader`).
Without a display (no ``DISPLAY``), MuJoCo renders off-screen with EGL unless ``MUJOCO_GL`` says otherwise.
"""

import os
import runpy

from sb3_iterative.extras import import_extra
from sb3_iterative.zoo import register_for_loading


def main() -> None:
    import_extra("moviepy", "video", "python -m sb3_iterative.record_video")
    if not os.environ.get("DISPLAY"):
        os.environ.setdefault("MUJOCO_GL", "egl")
    register_for_loading()
    # rl-zoo3's record_video is a script: its command line and recording run under __main__
    runpy.run_module("rl_zoo3.record_video", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
