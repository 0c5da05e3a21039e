"""The natively batched DyDiff envs: ``gym.make_vec("DyDiff-Hopper", num_envs=N)`` (or any other
DyDiff id) steps all N envs with one model call.

Row ``i`` behaves exactly like a single :class:`~dreamenv.envs.dream_env.DreamEnv` reset with seed
``seed + i``: each row has its own ``np_random`` and its own noise stream, so the result does not
depend on how the envs were batched (tested against N single envs).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import error
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dreamenv.envs.core import validate_actions
from dreamenv.envs.dream_env import DreamSetup
from dreamenv.envs.starts import Start
from dreamenv.models.history import History
from dreamenv.tasks import Task


class DreamVectorEnv(DreamSetup, VectorEnv):
    """``num_envs`` imagined envs in one batch, with Gymnasium 1.x ``NEXT_STEP`` autoreset: the
    step after a row ends resets that row (its action is ignored; reward 0, not done).

    Spaces, reward, termination, info and arguments are :class:`DreamEnv`'s, batched; truncation
    happens here at ``max_episode_steps`` (``None``: the real env's limit; ``gym.make_vec`` adds
    no ``TimeLimit``). ``info`` is a
    dict of arrays with Gymnasium's ``_key`` masks. ``reset(seed=s)`` seeds row ``i`` with
    ``s + i``; ``reset()`` keeps every row's random stream, as a Gymnasium env does;
    ``options={"initial_obs": (N, S) array}`` starts every row from given states.
    ``metadata["termination"]`` says what ends an episode (the task's rule, or the model's
    learned head for a task without a module). ``device="cuda"`` runs the model, its window and
    its noise streams on a GPU; the interface stays numpy (``gym.make_vec(..., tensors=True)``
    makes the tensor-native :class:`~dreamenv.envs.tensor_vector.TensorDreamVectorEnv`).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["rgb_array"],
                "render_fps": 125}

    def __init__(self, num_envs: int = 1, task: str | Task | None = "hopper",
                 max_episode_steps: int | None = None,
                 model: object = None, denoising_steps: int | None = None,
                 history: int | None = None, history_noise: float | None = None,
                 precision: str = "auto", start: str | Start = Start.REAL,
                 dataset: str | None = None, render_mode: str | None = None, width: int = 480,
                 height: int = 480, sampling_temperature: float | None = None,
                 device: str | None = None):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_episode_steps is not None and int(max_episode_steps) < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.num_envs = int(num_envs)
        self._setup(task, self.num_envs, model, denoising_steps, history, history_noise,
                    precision, start, dataset, render_mode, width, height, sampling_temperature,
                    device)
        self.max_episode_steps = (self.task.max_episode_steps if max_episode_steps is None
                                  else int(max_episode_steps))
        self.single_observation_space = self.real.observation_space
        self.single_action_space = self.real.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**self.metadata, "render_fps": self.real.render_fps,
                         "render_modes": ["rgb_array"] if self.task.body is not None else [],
                         "termination": self.termination_rule}
        self._rngs: list[np.random.Generator] = []
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self._autoreset = np.zeros(self.num_envs, dtype=bool)
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict | None = None) -> tuple[np.ndarray, dict]:
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"reset got {len(seeds)} seeds for {self.num_envs} envs")
        # As Gymnasium's envs: no seed keeps a row's stream (a fresh one only for a new row).
        self._rngs = [self._rngs[i] if s is None and i < len(self._rngs)
                      else seeding.np_random(s)[0] for i, s in enumerate(seeds)]
        initial = (options or {}).get("initial_obs")
        if initial is not None:
            initial = np.asarray(initial, dtype=np.float64)
            if initial.shape != self.observation_space.shape:
                raise ValueError(f"options['initial_obs'] must have shape "
                                 f"{self.observation_space.shape}, got {initial.shape}")
        obs, infos = self._reset_rows(np.arange(self.num_envs), initial)
        self._elapsed[:] = 0
        self._autoreset[:] = False
        return obs, infos

    def _reset_rows(self, rows: np.ndarray, initial: np.ndarray | None = None
                    ) -> tuple[np.ndarray, dict]:
        starts = [self._draw_start(self._rngs[i], None if initial is None else initial[i])
                  for i in rows]
        obs = np.stack([s[0] for s in starts])
        x = np.array([s[1] for s in starts])
        past = None
        if starts[0][2] is not None:  # dataset starts: every row has its recorded window
            past = History(*(torch.cat([getattr(s[2], k) for s in starts])
                             for k in ("states", "actions", "valid")))
        self.core.reset_rows(rows, obs, x, np.array([s[3] for s in starts], dtype=np.uint64),
                             past)
        if self._obs is None:
            self._obs = np.zeros(self.observation_space.shape)
        self._obs[rows] = obs
        infos = self._infos(self._obs, self.core.x_position.copy())
        mask = np.zeros(self.num_envs, dtype=bool)
        mask[rows] = True
        infos.update({f"_{k}": mask.copy() for k in list(infos)})
        return self._obs.astype(self.obs_dtype), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self._obs is None:
            raise error.ResetNeeded("DreamVectorEnv: call reset() before step()")
        a = validate_actions(actions, self.action_space.shape, self.low, self.high)
        out = self.core.step(a)
        stepped = ~self._autoreset
        self._elapsed += 1
        terminated = out.terminated & stepped
        truncated = np.zeros(self.num_envs, dtype=bool)
        if self.max_episode_steps is not None:
            truncated = (self._elapsed >= self.max_episode_steps) & stepped
        reward = np.where(stepped, out.reward, 0.0)
        self._obs = out.obs
        infos = self._infos(out.obs, out.x_position, out)
        infos.update({f"_{k}": stepped.copy() for k in list(infos)})
        resetting = np.flatnonzero(self._autoreset)
        if len(resetting):
            obs, reset_infos = self._reset_rows(resetting)
            self._elapsed[resetting] = 0
            for key in [k for k in reset_infos if not k.startswith("_")]:
                infos[key] = np.where(self._autoreset, reset_infos[key], infos[key])
                infos[f"_{key}"][:] = True
        self._autoreset = terminated | truncated
        return self._obs.astype(self.obs_dtype), reward, terminated, truncated, infos

    def end_episodes(self, rows: np.ndarray) -> None:
        """Treat ``rows`` (a bool mask) as ended by the last step, so the next step autoresets
        them: for wrappers that end episodes themselves (``UncertaintyHalt``)."""
        self._autoreset |= np.asarray(rows, dtype=bool)

    def render(self) -> tuple[np.ndarray, ...] | None:
        if self.render_mode is None or self._obs is None:
            return None
        return tuple(self.real.render(self._obs[i], float(self.core.x_position[i]))
                     for i in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        if hasattr(self, "real"):  # construction may have failed before it existed
            self.real.close()


def make_vector_env(num_envs: int = 1, tensors: bool = False, **kwargs: Any) -> VectorEnv:
    """The vector entry point of every DyDiff id: ``gym.make_vec(id, num_envs=N)`` gives the
    NumPy :class:`DreamVectorEnv`; ``tensors=True`` the tensor-native
    :class:`~dreamenv.envs.tensor_vector.TensorDreamVectorEnv` (torch tensors on ``device``)."""
    if not tensors:
        return DreamVectorEnv(num_envs, **kwargs)
    from dreamenv.envs.tensor_vector import TensorDreamVectorEnv

    return TensorDreamVectorEnv(num_envs, **kwargs)

