"""``DyDiff-Hopper``: a Gymnasium env whose every step is sampled from a learned dynamics model."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dreamenv.envs.core import (KEY_HIGH, ImaginedBatch, StepBatch, load_dynamics,
                                predict_options, validate_actions)
from dreamenv.envs.real import RealBody
from dreamenv.envs.starts import DatasetStarts, Start
from dreamenv.models.history import History
from dreamenv.tasks import TASKS


class DreamSetup:
    """What the single and the vector env share: the real body (spaces, resets, renderer), the
    model and its options, the start distribution, and per-row info."""

    def _setup(self, task: str, num_rows: int, model: object, denoising_steps: int | None,
               history: int | None, history_noise: float | None, precision: str | None,
               start: str | Start, dataset: str | None, render_mode: str | None, width: int,
               height: int, sampling_temperature: float | None = None) -> None:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; dreamenv knows {sorted(TASKS)}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        self.task = TASKS[task]
        self.real = RealBody(self.task.env_id, render_mode, width, height)
        self.dynamics, termination, config = load_dynamics(model, self.task.env_id)
        obs_dim = self.real.observation_space.shape[0]
        act_dim = self.real.action_space.shape[0]
        if (self.dynamics.state_dim, self.dynamics.action_dim) != (obs_dim, act_dim):
            raise ValueError(f"model predicts {self.dynamics.state_dim}-dim states from "
                             f"{self.dynamics.action_dim}-dim actions; {self.task.env_id} has "
                             f"{obs_dim} and {act_dim}")
        options = predict_options(self.dynamics, num_rows, denoising_steps, history_noise,
                                  precision, sampling_temperature)
        self.core = ImaginedBatch(self.dynamics, termination, num_rows, history, options,
                                  self.real.dt, x_velocity_index=self.real.nq - 1)
        try:
            self.start = Start(start)
        except ValueError:
            raise ValueError(f"start must be one of {[s.value for s in Start]}, "
                             f"got {start!r}") from None
        self.dataset_starts = None
        if self.start is Start.DATASET:
            dataset = dataset or config.get("dataset", {}).get("source")
            if dataset is None:
                raise ValueError("start='dataset' needs dataset=NAME_OR_PATH for this model")
            self.dataset_starts = DatasetStarts(dataset, self.dynamics.history_len,
                                                self.task.env_id)
        self.render_mode = render_mode
        self.low = self.real.action_space.low.astype(np.float64)
        self.high = self.real.action_space.high.astype(np.float64)

    def _draw_start(self, rng: np.random.Generator, initial_obs: Any = None
                    ) -> tuple[np.ndarray, float, History | None, int]:
        """One row's start ``(obs, x position, recorded window or None, noise key)``, every
        draw from ``rng`` (the row's ``np_random``)."""
        past = None
        if initial_obs is not None:
            obs = np.asarray(initial_obs, dtype=np.float64)
            shape = self.real.observation_space.shape
            if obs.shape != shape or not np.isfinite(obs).all():
                raise ValueError(f"options['initial_obs'] must be a finite array of shape "
                                 f"{shape}, got shape {obs.shape}")
            x = 0.0
        elif self.dataset_starts is not None:
            obs, x, past = self.dataset_starts.draw(rng)
        else:
            obs, x = self.real.reset_state(rng)
        return obs, x, past, int(rng.integers(KEY_HIGH))

    def _reset_info(self, obs: np.ndarray, x: float) -> dict:
        return {"x_position": x, "z_distance_from_origin": obs[0] - self.real.z_origin}

    def _step_info(self, out: StepBatch, row: int) -> dict:
        return {"x_position": out.x_position[row], "x_velocity": out.x_velocity[row],
                "z_distance_from_origin": out.obs[row, 0] - self.real.z_origin,
                "uncertainty": out.uncertainty[row], "model_diverged": bool(out.diverged[row])}


class DreamEnv(DreamSetup, gym.Env):
    """A MuJoCo locomotion task (``DyDiff-Hopper``: Hopper-v5) simulated by a learned model.

    Spaces are the real env's: for Hopper, observation ``Box(-inf, inf, (11,), float64)`` =
    ``qpos[1:]`` (5) + ``clip(qvel, -10, 10)`` (6); action ``Box(-1, 1, (3,), float32)``.

    Step: the model samples ``(s_{t+1}, r_t)`` from the rolling window of its own past states
    (re-noised at ``history_noise``) and the action; all randomness comes from a stream seeded
    from ``np_random``, so ``reset(seed=s)`` makes the whole episode reproducible.

    * **reward**: the model's predicted reward (it learned Hopper-v5's forward velocity +
      healthy bonus - control cost).
    * **terminated**: the task's own rule on the predicted observation (Hopper-v5: unhealthy when
      ``z <= 0.7``, ``|angle| >= 0.2`` or any state beyond 100), or a learned head for a task
      without one; also when the model produced a non-finite value (``info["model_diverged"]``).
    * **truncated**: by ``TimeLimit`` at ``max_episode_steps`` (1000) when made by ``gym.make``.
    * **info**: ``x_position`` (integrated from the predicted x velocity), ``x_velocity``,
      ``z_distance_from_origin``, ``uncertainty`` (the model's own score, see
      ``Prediction``), ``model_diverged``.
    * **actions** outside the bounds are clipped, as MuJoCo's ctrlrange clips controls; the
      real env's control cost uses the unclipped action, the model saw the clipped one. NaN,
      inf, a wrong shape or a non-numeric action raise ``ValueError``.

    Args:
        task: dreamenv task name (``"hopper"``).
        model: checkpoint directory or model object; ``None`` loads the shipped model.
        denoising_steps: sampling steps, 1..50 (``None``: the model's default, 2).
        history: past transitions the model sees, ``0..history_len`` (``None``: all, 4).
        history_noise: stabilisation noise level of the history (``None``: the model's).
        sampling_temperature: scale of the sampler's starting noise, 0..1 (``None``: the
            model's; 0 makes each step deterministic given its history and action).
        precision: ``"float32"``, ``"bfloat16"`` or ``"auto"`` (default): float32 for fewer
            than 32 rows (a single env), bfloat16 for wider batches on CPUs with native
            bfloat16, where it halves the cost of a step and changes open-loop accuracy by
            under 2% (benchmarks/model_accuracy.py). Rows of the same precision agree to float
            tolerance however they are batched; pin ``precision`` to compare across widths.
        start: ``"real"`` (Hopper-v5's reset distribution; ``reset(seed=s)`` returns exactly
            ``Hopper-v5``'s observation) or ``"dataset"`` (a random dataset state with its
            recorded history, for MBPO-style branched rollouts).
        dataset: dataset name or path for ``start="dataset"`` (default: the model's training
            set).
        render_mode: ``None`` or ``"rgb_array"`` (the real MuJoCo Hopper posed in the imagined
            state).

    ``reset(options={"initial_obs": obs})`` starts from ``obs`` with an empty history.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 125}

    def __init__(self, task: str = "hopper", model: object = None,
                 denoising_steps: int | None = None, history: int | None = None,
                 history_noise: float | None = None, precision: str = "auto",
                 start: str | Start = Start.REAL, dataset: str | None = None,
                 render_mode: str | None = None, width: int = 480, height: int = 480,
                 sampling_temperature: float | None = None):
        self._setup(task, 1, model, denoising_steps, history, history_noise, precision, start,
                    dataset, render_mode, width, height, sampling_temperature)
        self.observation_space = self.real.observation_space
        self.action_space = self.real.action_space
        self.metadata = {**self.metadata, "render_fps": self.real.render_fps}
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        obs, x, past, key = self._draw_start(self.np_random, (options or {}).get("initial_obs"))
        self.core.reset_rows(np.array([0]), obs[None], np.array([x]), np.array([key]),
                             past)
        self._obs = obs
        return obs.copy(), self._reset_info(obs, x)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._obs is None:
            raise gym.error.ResetNeeded("DreamEnv: call reset() before step()")
        a = validate_actions(action, self.action_space.shape, self.low, self.high)
        out = self.core.step(a[None])
        self._obs = out.obs[0]
        return (out.obs[0].copy(), float(out.reward[0]), bool(out.terminated[0]), False,
                self._step_info(out, 0))

    def render(self) -> np.ndarray | None:
        if self.render_mode is None or self._obs is None:
            return None
        return self.real.render(self._obs, float(self.core.x_position[0]))

    def close(self) -> None:
        if hasattr(self, "real"):  # construction may have failed before it existed
            self.real.close()
