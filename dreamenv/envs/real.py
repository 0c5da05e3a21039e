"""The real env, used for the few things a dynamics model cannot do by itself.

A DyDiff env never steps the simulator. It borrows the real env's spaces, its reset distribution
(so ``reset(seed=s)`` gives exactly the real env's ``reset(seed=s)`` observation) and, for a task
with a body layout (:class:`~dreamenv.tasks.Locomotion`), its renderer, to draw an imagined state.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from dreamenv.tasks import Task


class RealBody:
    """A real env of ``task`` and what the DyDiff envs take from it.

    Attributes:
        observation_space, action_space: the real env's spaces (same bounds and dtypes).
        dt: seconds per env step (x position integration, render fps); 1 if the env has none.
        z_origin: initial torso height, for the ``z_distance_from_origin`` info (0 without).
        render_fps: the real env's, for videos.
    """

    def __init__(self, task: Task, render_mode: str | None = None, width: int = 480,
                 height: int = 480):
        if render_mode is not None and task.body is None:
            raise ValueError(f"render_mode={render_mode!r}: dreamenv cannot pose the real "
                             f"{task.env_id} from an observation (no task module for it)")
        # Only asked for when rendering: envs without a render_mode argument still load.
        kwargs = {"render_mode": render_mode, "width": width, "height": height} if render_mode \
            else {}
        try:
            self.env = gym.make(task.env_id, **kwargs).unwrapped
        except gym.error.Error as e:
            raise ValueError(f"{task.env_id}: the real env is needed for its spaces and reset "
                             f"distribution and cannot be made here ({e})") from None
        for name, space in (("observation", self.env.observation_space),
                            ("action", self.env.action_space)):
            if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
                raise ValueError(f"{task.env_id}: {name} space {space} is not a flat Box")
        self.task = task
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space
        self.dt = float(getattr(self.env, "dt", 1.0))
        init_qpos = getattr(self.env, "init_qpos", None)
        self.z_origin = float(init_qpos[1]) if task.body is not None else 0.0
        fps = self.env.metadata.get("render_fps") or round(1 / self.dt)
        self.render_fps = int(fps)
        # The reset drawn without the simulator, only if it is the env's own number for number
        # (and leaves the generator where the env's leaves it).
        self._draws_reset = task.body is not None and hasattr(self.env, "_reset_noise_scale") \
            and all(_same_draws(self._drawn_reset, self._simulator_reset, seed)
                    for seed in (0, 1))

    def reset_state(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """The real env's own reset with ``rng``: ``(obs (S,) float64, x position)``.

        For a locomotion body the reset's arithmetic is done here with the same draws from
        ``rng``: the same numbers in a fifth of the time of the simulator's reset, which a
        vector env of random policies calls for some 4% of its rows every step."""
        if self._draws_reset:
            return self._drawn_reset(rng)
        return self._simulator_reset(rng)

    def _simulator_reset(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        self.env.np_random = rng
        obs, _ = self.env.reset()
        x = float(self.env.data.qpos[0]) if self.task.body is not None else 0.0
        return np.asarray(obs, dtype=np.float64), x

    def _drawn_reset(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """Gymnasium's locomotion reset: ``qpos = init_qpos + U(-c, c)``, ``qvel = init_qvel +
        U(-c, c)`` (or ``c N(0, 1)``), observed as ``qpos[1:]`` and the clipped ``qvel``."""
        env, body, scale = self.env, self.task.body, self.env._reset_noise_scale
        qpos = env.init_qpos + rng.uniform(low=-scale, high=scale, size=env.model.nq)
        if body.normal_reset_velocity:
            qvel = env.init_qvel + scale * rng.standard_normal(env.model.nv)
        else:
            qvel = env.init_qvel + rng.uniform(low=-scale, high=scale, size=env.model.nv)
        if body.velocity_clip is not None:
            qvel = np.minimum(np.maximum(qvel, -body.velocity_clip), body.velocity_clip)
        return np.concatenate([qpos[1:], qvel]), float(qpos[0])

    def render(self, obs: np.ndarray, x_position: float) -> np.ndarray | None:
        """Draw the state ``obs`` at ``x_position`` with the real model's renderer."""
        self.env.set_state(*self.task.body.pose(obs, x_position))
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def _same_draws(draw_a, draw_b, seed: int) -> bool:
    """Whether two reset functions give the same start from ``seed`` and leave the generator
    in the same state."""
    rngs = np.random.default_rng(seed), np.random.default_rng(seed)
    (obs_a, x_a), (obs_b, x_b) = draw_a(rngs[0]), draw_b(rngs[1])
    return (np.array_equal(obs_a, obs_b) and x_a == x_b
            and rngs[0].integers(2**62) == rngs[1].integers(2**62))
