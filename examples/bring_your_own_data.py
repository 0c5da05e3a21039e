"""Bring your own data: offline transitions of an env dreamenv has no task module for become a
diffusion model, and the model a Gymnasium env with that env's spaces.

    python examples/bring_your_own_data.py                      # InvertedPendulum-v5, ~3 min
    python examples/bring_your_own_data.py --env-id Pendulum-v1

1. "Your data": a D4RL-format HDF5 file of random-action episodes, written without saying which
   env it comes from (as many users' files are); ``env_id`` is given at training instead
   (``dreamenv train --dataset FILE --env-id ID`` on the command line).
2. A diffusion model trained on it (resumable; run again to continue).
3. ``gym.make("DyDiff", model=DIR)``: episodes end where the model's learned termination head
   says, since dreamenv knows no rule for this env. The same random policy, seed for seed, in the
   learned and the real env: episode returns and lengths side by side.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gymnasium as gym
import numpy as np

import dreamenv  # noqa: F401  (registers DyDiff)
from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.hdf5 import save_hdf5
from dreamenv.datasets.rollout import collect
from dreamenv.models.diffusion import DiffusionConfig
from dreamenv.training.common import ModelKind, TrainConfig
from dreamenv.training.run import train_model


def episode_returns(env: gym.Env, episodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of uniform random actions, episode ``k`` from seed ``k``."""
    returns, lengths = np.zeros(episodes), np.zeros(episodes, dtype=int)
    for k in range(episodes):
        env.reset(seed=k)
        env.action_space.seed(k)
        done = False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            returns[k] += reward
            lengths[k] += 1
            done = terminated or truncated
    return returns, lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", default="InvertedPendulum-v5")
    parser.add_argument("--transitions", type=int, default=20_000)
    parser.add_argument("--train-steps", type=int, default=3_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--out", default="runs/bring-your-own-data")
    args = parser.parse_args()
    out = Path(args.out)

    # 1. The user's file: D4RL keys, no env_id in its metadata.
    space = gym.make(args.env_id).action_space
    arrays = collect(RandomPolicy(space.low, space.high), args.env_id, args.transitions, seed=0)
    data_file = save_hdf5(OfflineDataset(arrays, {"name": "my-data"}), out / "my-data.hdf5")

    # 2. The model, told which env the data comes from.
    train = TrainConfig(dataset=str(data_file), env_id=args.env_id,
                        diffusion_steps=args.train_steps, eval_every=max(1, args.train_steps // 5),
                        checkpoint_every=max(1, args.train_steps // 2), threads=1)
    model_dir = train_model(ModelKind.DIFFUSION, train, DiffusionConfig(), out / "model")

    # 3. The env, and the same policy in both.
    learned = gym.make("DyDiff", model=str(model_dir))
    real = gym.make(args.env_id)
    print(f"{learned.spec.id} learned {args.env_id}: obs {learned.observation_space.shape}, "
          f"action {learned.action_space.shape}, limit {learned.spec.max_episode_steps}; "
          f"termination {learned.metadata['termination']}")
    for name, env in (("real", real), ("learned", learned)):
        returns, lengths = episode_returns(env, args.episodes)
        print(f"{name:>8}: return {returns.mean():8.1f} ± {returns.std():6.1f}, "
              f"length {lengths.mean():6.1f}  (random actions, {args.episodes} episodes)")


if __name__ == "__main__":
    main()
