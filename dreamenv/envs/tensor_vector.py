"""The tensor-native DyDiff vector env: observations, actions, rewards, flags and info stay torch
tensors on the model's device, for agents whose networks live there too.

``gym.make_vec("DyDiff-Hopper", num_envs=N, tensors=True, device="cuda")``. Nothing in a step
leaves the device except one check that the actions are finite (a single flag): the model call,
the task's termination rule and reward terms (the same functions the NumPy envs run,
:mod:`dreamenv.tasks.locomotion`), the real env's reset distribution, autoreset and truncation
are all torch ops on whole batches, with masks instead of row indices.

Randomness: every row has two SplitMix64 streams on the device (:class:`RowNoise`): the model's
sampling noise, re-keyed at each of the row's resets, and the row's reset stream, which draws a
candidate start (the real env's reset noise and the next model key) at every step, used or not.
So row ``i`` of ``reset(seed=s)`` depends only on ``s + i`` and its actions, however many rows
are batched with it (tested). Starts follow the real env's reset distribution exactly (Hopper
and Walker2d: ``U(-0.005, 0.005)`` on ``qpos`` and ``qvel``; HalfCheetah: ``U(-0.1, 0.1)`` and
``0.1 N(0, 1)``), but not the real env's NumPy stream: ``reset(seed=s)`` does not return
``Hopper-v5``'s ``reset(seed=s)`` (the NumPy envs do).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from gymnasium import error
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from dreamenv.envs.core import ModelClock
from dreamenv.envs.dream_env import DreamSetup
from dreamenv.envs.starts import Start
from dreamenv.models.noise import RowNoise, row_keys
from dreamenv.tasks import Task


class TensorDreamVectorEnv(DreamSetup, VectorEnv):
    """``num_envs`` imagined envs whose whole interface is torch tensors on ``device``.

    Everything is :class:`~dreamenv.envs.vector.DreamVectorEnv`'s (spaces, reward, termination,
    ``NEXT_STEP`` autoreset, truncation at ``max_episode_steps``, info keys with their ``_key``
    masks) except the types:

    * **observations** ``(N, S)`` float32 on ``device``: the model's own values, which the
      NumPy env returns as float64 (the spaces stay the real env's float64 Boxes, as
      Gymnasium's ``NumpyToTorch`` wrapper keeps them). ``precision="auto"`` samples in
      bfloat16 from 32 rows up on a GPU that has it: pin ``precision="float32"`` for the NumPy
      env's values, or for rows that agree however they are batched.
    * **actions** ``(N, A)``: a tensor (any device and float dtype; moved to ``device``) or an
      array; clipped to the bounds; a wrong shape, NaN or inf raises ``ValueError``.
    * **rewards** ``(N,)`` float32, **terminated** / **truncated** ``(N,)`` bool, **info**
      values ``(N,)`` tensors (``x_position`` float64, as the NumPy env integrates it), all on
      ``device``.
    * **starts**: the real env's reset distribution drawn on the device (see the module
      docstring), or ``reset(options={"initial_obs": (N, S)})``. Dataset starts and rendering
      are the NumPy env's (``tensors=False``).

    Args:
        num_envs: ``N``.
        task, model, denoising_steps, history, history_noise, precision,
            sampling_temperature, max_episode_steps: as ``DreamVectorEnv``.
        device: where the model and every tensor live (``None``: the CPU, which runs the same
            code a GPU does).
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, task: str | Task | None = "hopper",
                 max_episode_steps: int | None = None, model: object = None,
                 denoising_steps: int | None = None, history: int | None = None,
                 history_noise: float | None = None, precision: str = "auto",
                 sampling_temperature: float | None = None, device: str | None = None):
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if max_episode_steps is not None and int(max_episode_steps) < 1:
            raise ValueError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.num_envs = n = int(num_envs)
        self._setup(task, n, model, denoising_steps, history, history_noise, precision,
                    Start.REAL, None, None, 480, 480, sampling_temperature, device)
        if self.task.body is None:
            raise ValueError(f"tensors=True draws starts from a task module's reset "
                             f"distribution, and {self.task.env_id} has none: use the NumPy "
                             "vector env (tensors=False)")
        core = self.core
        self.device = core.device
        core.predict_kwargs.pop("backend", None)  # the NumPy backend answers in NumPy
        core.noise = RowNoise(np.zeros(n, dtype=np.uint64), self.device)
        self.max_episode_steps = (self.task.max_episode_steps if max_episode_steps is None
                                  else int(max_episode_steps))
        self.single_observation_space = self.real.observation_space
        self.single_action_space = self.real.action_space
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self.metadata = {**self.metadata, "termination": self.termination_rule}
        self.starts = DeviceStarts(self.real.env, self.task, self.device)
        as_tensor = {"dtype": torch.float32, "device": self.device}
        self._low, self._high = (torch.as_tensor(b, **as_tensor) for b in (self.low, self.high))
        space = self.real.observation_space
        self._obs_bounds = None
        if core.obs_bounds is not None:
            self._obs_bounds = tuple(torch.as_tensor(b, **as_tensor)
                                     for b in (space.low, space.high))
        self._resets: RowNoise | None = None
        self._obs = torch.zeros(n, space.shape[0], **as_tensor)
        self._x = torch.zeros(n, dtype=torch.float64, device=self.device)  # as the NumPy env's
        self._elapsed = torch.zeros(n, dtype=torch.int64, device=self.device)
        self._autoreset = torch.zeros(n, dtype=torch.bool, device=self.device)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict | None = None
              ) -> tuple[torch.Tensor, dict]:
        initial = (options or {}).get("initial_obs")
        if initial is not None:  # checked before anything changes
            initial = self._checked_initial_obs(initial)
        if isinstance(seed, (int, np.integer)):
            seed = [int(seed) + i for i in range(self.num_envs)]
        if seed is not None and len(seed) != self.num_envs:
            raise ValueError(f"reset got {len(seed)} seeds for {self.num_envs} envs")
        # As Gymnasium's envs: a row without a seed keeps its stream (new rows get entropy).
        seeds = list(seed or [None] * self.num_envs)
        if None in seeds:
            fresh = np.random.SeedSequence().generate_state(self.num_envs, np.uint64)
            seeds = [fresh[i] if s is None else s for i, s in enumerate(seeds)]
        keys = row_keys(np.array(seeds, dtype=np.uint64))
        if self._resets is None:
            self._resets = RowNoise(keys, self.device)
        else:
            given = np.flatnonzero([s is not None for s in seed or []])
            self._resets.reseed(given, keys[given])
        every = torch.ones(self.num_envs, dtype=torch.bool, device=self.device)
        self._restart(every)
        if initial is not None:
            self._obs, self._x = initial, torch.zeros_like(self._x)
            self.core.window.states[:, -1] = initial
        self._elapsed.zero_()
        self._autoreset.zero_()
        infos = self._tensor_infos(self._obs, self._x)
        infos.update({f"_{k}": every.clone() for k in list(infos)})
        return self._obs, infos

    def _checked_initial_obs(self, initial: Any) -> torch.Tensor:
        initial = torch.as_tensor(initial, dtype=torch.float32, device=self.device)
        shape = self.observation_space.shape
        if tuple(initial.shape) != shape or not torch.isfinite(initial).all():
            raise ValueError(f"options['initial_obs'] must be a finite array of shape {shape}, "
                             f"got {tuple(initial.shape)}")
        if self._obs_bounds is not None and not ((initial >= self._obs_bounds[0])
                                                 & (initial <= self._obs_bounds[1])).all():
            raise ValueError("options['initial_obs'] is outside the observation space "
                             f"{self.single_observation_space}")
        return initial.clone()

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor,
                                          torch.Tensor, dict]:
        if self._resets is None:
            raise error.ResetNeeded("TensorDreamVectorEnv: call reset() before step()")
        core, action = self.core, self._validate(actions)
        with torch.no_grad():
            start = time.perf_counter()
            pred = core.model.predict(core.window, action, core.noise, **core.predict_kwargs)
            ModelClock.seconds += time.perf_counter() - start
            obs, reward = pred.next_state.float(), pred.reward.float()
            diverged = ~(torch.isfinite(obs).all(1) & torch.isfinite(reward))
            obs = torch.where(diverged[:, None], core.window.current, obs)
            reward = torch.where(diverged, 0.0, reward)
            if self._obs_bounds is not None:
                obs = torch.clamp(obs, *self._obs_bounds)
            core.window.push_(action, obs)
            if core.hidden_tokens:
                core.window.valid[:, : core.hidden_tokens] = False
            terminated = torch.as_tensor(core.termination(obs), device=self.device) | diverged
            body = self.task.body
            x_velocity = obs[:, body.x_velocity_index]
            self._x = self._x + core.dt * x_velocity.double()
            infos = self._tensor_infos(obs, self._x)
            infos.update(x_velocity=x_velocity, **body.reward_terms(obs, action, terminated),
                         uncertainty=torch.nan_to_num(pred.uncertainty.float(), 0.0, 0.0, 0.0),
                         model_diverged=diverged)
            stepped = ~self._autoreset
            infos.update({f"_{k}": stepped.clone() for k in list(infos)})
            self._elapsed += 1
            terminated &= stepped
            truncated = (self._elapsed >= self.max_episode_steps) & stepped
            reward = torch.where(stepped, reward, 0.0)
            self._obs = obs
            resetting = self._autoreset
            self._restart(resetting)
            for key, value in self._tensor_infos(self._obs, self._x).items():
                infos[key] = torch.where(resetting, value, infos[key])
                infos[f"_{key}"] = infos[f"_{key}"] | resetting
            self._autoreset = terminated | truncated
        return self._obs, reward, terminated, truncated, infos

    def end_episodes(self, rows: torch.Tensor) -> None:
        """Treat ``rows`` (a bool mask) as ended by the last step (as ``DreamVectorEnv``)."""
        self._autoreset |= torch.as_tensor(rows, dtype=torch.bool, device=self.device)

    def _restart(self, rows: torch.Tensor) -> None:
        """Start the rows where the bool mask ``rows`` is set from fresh reset draws. Every row
        draws a candidate (its stream advances the same whether it restarts or not)."""
        obs, x, keys = self.starts.draw(self._resets)
        window, mask = self.core.window, rows[:, None]
        window.states.masked_fill_(mask[..., None], 0.0)
        window.states[:, -1] = torch.where(mask, obs, window.states[:, -1])
        window.actions.masked_fill_(mask[..., None], 0.0)
        window.valid.masked_fill_(mask, False)
        window.valid[:, -1] |= rows
        self.core.noise.reseed_where(rows, keys)
        self._obs = torch.where(mask, obs, self._obs)
        self._x = torch.where(rows, x, self._x)
        self._elapsed.masked_fill_(rows, 0)

    def _validate(self, actions: Any) -> torch.Tensor:
        try:
            a = torch.as_tensor(actions, device=self.device)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"action must be numeric with shape {self.action_space.shape}, "
                             f"got {type(actions).__name__} ({e})") from None
        if tuple(a.shape) != self.action_space.shape:
            raise ValueError(f"action has shape {tuple(a.shape)}, expected "
                             f"{self.action_space.shape}")
        if a.dtype == torch.bool or a.is_complex():
            raise ValueError(f"action must be real numbers, got {a.dtype}")
        a = a.float()
        if not torch.isfinite(a).all():  # the step's one wait for the device
            bad = torch.nonzero(~torch.isfinite(a))[:4].tolist()
            raise ValueError(f"action contains NaN or inf (at index {bad})")
        return torch.clamp(a, self._low, self._high)

    def _tensor_infos(self, obs: torch.Tensor, x: torch.Tensor) -> dict[str, torch.Tensor]:
        infos = {"x_position": x}
        if self.task.body.height_index is not None:
            infos["z_distance_from_origin"] = (obs[:, self.task.body.height_index]
                                               - self.real.z_origin)
        return infos

    def close_extras(self, **kwargs: Any) -> None:
        if hasattr(self, "real"):  # construction may have failed before it existed
            self.real.close()


class DeviceStarts:
    """The real env's reset distribution on the device: ``qpos = init_qpos + U(-c, c)``,
    ``qvel = init_qvel + U(-c, c)`` (or ``c N(0, 1)``), observed as ``qpos[1:]`` and the
    (clipped) ``qvel``; ``c`` is the real env's ``reset_noise_scale``."""

    def __init__(self, real_env: Any, task: Task, device: torch.device):
        body = task.body
        self.body = body
        self.init_qpos = torch.as_tensor(real_env.init_qpos, dtype=torch.float32, device=device)
        self.init_qvel = torch.as_tensor(real_env.init_qvel, dtype=torch.float32, device=device)
        self.scale = float(real_env._reset_noise_scale)
        if len(self.init_qpos) != body.nq:
            raise ValueError(f"{task.env_id}: qpos has {len(self.init_qpos)} entries, the "
                             f"task module says {body.nq}")

    def draw(self, stream: RowNoise) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One candidate start per row: ``(obs (N, S), x position (N,), model key (N,))``."""
        nq, nv = len(self.init_qpos), len(self.init_qvel)
        n = len(stream)
        u = stream.uniform((n, nq + nv))
        qpos = self.init_qpos + self.scale * (2.0 * u[:, :nq] - 1.0)
        if self.body.normal_reset_velocity:
            qvel = self.init_qvel + self.scale * stream.randn((n, nv))
        else:
            qvel = self.init_qvel + self.scale * (2.0 * u[:, nq:] - 1.0)
        if self.body.velocity_clip is not None:
            qvel = torch.clamp(qvel, -self.body.velocity_clip, self.body.velocity_clip)
        keys = stream.bits((n, 1))[:, 0]
        return torch.cat([qpos[:, 1:], qvel], 1), qpos[:, 0].double(), keys
