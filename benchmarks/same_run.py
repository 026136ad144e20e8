"""A digest of the parameters after a short seeded run: the same digest from two checkouts means
they train identically, bit for bit.

    PYTHONPATH=<checkout> python benchmarks/same_run.py                  # model-free IterativeSAC, 300 steps
    PYTHONPATH=<checkout> python benchmarks/same_run.py --model-based     # model-based, iterative and direct, 150 steps
"""

import argparse
import hashlib

import gymnasium as gym
import torch as th

from sb3_iterative import IterativeSAC

# The modules' names when the digests were introduced, and their names now: the digest hashes the first names, so
# that digests compare across the renames
FIRST_NAMES = (("model_based.", "estimator."), ("rollout_policy.", "distilled_policy."))


def first_name(key: str) -> str:
    """A parameter's name as the digest hashes it (:data:`FIRST_NAMES`)."""
    for then, now in FIRST_NAMES:
        if key.startswith(now):
            return then + key[len(now) :]
    return key


def digest(model: IterativeSAC) -> str:
    hasher = hashlib.sha256()
    for key, value in model.policy.state_dict().items():
        hasher.update(first_name(key).encode())
        hasher.update(value.detach().cpu().contiguous().numpy().tobytes())
    return hasher.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-based", action="store_true")
    args = parser.parse_args()
    th.set_num_threads(1)
    if not args.model_based:
        model = IterativeSAC(
            "MlpPolicy",
            "Pendulum-v1",
            learning_starts=100,
            batch_size=64,
            seed=3,
            device="cpu",
            policy_kwargs=dict(net_arch=[32, 32]),
        ).learn(300)
        print(f"model-free: {digest(model)}")
        return
    for actor, beta in (("iterative", 2.5), ("direct", 1.0)):
        model = IterativeSAC(
            "MlpPolicy",
            gym.make("Pendulum-v1", max_episode_steps=50),
            learning_starts=50,
            batch_size=32,
            seed=3,
            device="cpu",
            beta=beta,
            model_pretrain_steps=20,
            model_based_target=True,
            policy_kwargs=dict(net_arch=[32, 32], actor=actor, value_estimator="model", rollout_horizon=2, retrace_lambda=0.9),
        ).learn(150)
        print(f"model-based, {actor} actor: {digest(model)}")


if __name__ == "__main__":
    main()
