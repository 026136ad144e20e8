"""The installed package as a user gets it, run from outside the checkout by .ci/wheel_check.sh.

Each algorithm trains 300 Pendulum-v1 steps (100 of them random), saves, loads and predicts as before the save;
then rl-zoo3's command line trains IterativeSAC from the package's own hyperparameter file and enjoy replays it.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch as th

import sb3_iterative
from sb3_iterative import IterativeCrossQ, IterativeSAC, IterativeTQC

assert "site-packages" in sb3_iterative.__file__, f"not the installed wheel: {sb3_iterative.__file__}"
print(f"sb3_iterative {sb3_iterative.__version__} from {Path(sb3_iterative.__file__).parent}")
th.set_num_threads(1)

for algorithm in (IterativeSAC, IterativeTQC, IterativeCrossQ):
    model = algorithm(
        "MlpPolicy", "Pendulum-v1", learning_starts=100, batch_size=64, policy_kwargs=dict(net_arch=[64, 64]), seed=0
    )
    model.learn(300)
    model.save(algorithm.__name__)
    loaded = algorithm.load(algorithm.__name__, device="cpu")
    observations = np.stack([model.observation_space.sample() for _ in range(4)])
    actions, _ = model.predict(observations, deterministic=True)
    np.testing.assert_allclose(loaded.predict(observations, deterministic=True)[0], actions, rtol=1e-5, atol=1e-6)
    print(f"{algorithm.__name__}: trained 300 steps, saved, loaded, predicts as before")

zoo = ["--algo", "iterative_sac", "--env", "Pendulum-v1", "-f", "logs", "--seed", "1"]
train = [*zoo, "-n", "300", "--eval-freq", "-1", "--num-threads", "1", "-params", "learning_starts:100", "batch_size:64"]
subprocess.run([sys.executable, "-m", "sb3_iterative.train", *train], check=True, capture_output=True)
assert Path("logs/iterative_sac/Pendulum-v1_1/Pendulum-v1.zip").is_file(), "rl-zoo3 saved no model"
enjoy = [*zoo, "--exp-id", "1", "--no-render", "-n", "200", "--num-threads", "1"]
subprocess.run([sys.executable, "-m", "sb3_iterative.enjoy", *enjoy], check=True, capture_output=True)
print("python -m sb3_iterative.train and sb3_iterative.enjoy: trained 300 steps, saved, replayed 200")
