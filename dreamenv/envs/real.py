"""The real MuJoCo env, used for the few things a dynamics model cannot do by itself.

A DyDiff env never steps the simulator. It borrows the real env's spaces, its reset distribution
(so ``reset(seed=s)`` gives exactly ``Hopper-v5.reset(seed=s)``'s observation) and its renderer
(to draw an imagined state). The observation layout is the MuJoCo locomotion one with the current
x position left out: ``obs = qpos[1:] + clip(qvel)``, so x is integrated from the predicted x
velocity ``obs[nq - 1]``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np


class RealBody:
    """A real env of ``env_id`` and what the DyDiff envs take from it.

    Attributes:
        observation_space, action_space: the real env's spaces (same bounds and dtypes).
        dt: seconds per env step (x position integration, render fps).
        nq: length of ``qpos``; ``obs[nq - 1]`` is the x velocity.
        z_origin: initial height, for Hopper's ``z_distance_from_origin`` info.
    """

    def __init__(self, env_id: str, render_mode: str | None = None, width: int = 480,
                 height: int = 480):
        kwargs = {"width": width, "height": height} if render_mode else {}
        self.env = gym.make(env_id, render_mode=render_mode, **kwargs).unwrapped
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.dt = float(self.env.dt)
        self.nq = int(self.env.model.nq)
        self.z_origin = float(self.env.init_qpos[1])
        self.render_fps = int(self.env.metadata.get("render_fps", round(1 / self.dt)))

    def reset_state(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """The real env's own reset with ``rng``: ``(obs (S,) float64, x position)``."""
        self.env.np_random = rng
        obs = self.env.reset_model()
        return np.asarray(obs, dtype=np.float64), float(self.env.data.qpos[0])

    def render(self, obs: np.ndarray, x_position: float) -> np.ndarray | None:
        """Draw the state ``obs`` at ``x_position`` with the real model's renderer."""
        obs = np.asarray(obs, dtype=np.float64)
        qpos = np.concatenate([[x_position], obs[: self.nq - 1]])
        self.env.set_state(qpos, obs[self.nq - 1:])
        return self.env.render()

    def close(self) -> None:
        self.env.close()
