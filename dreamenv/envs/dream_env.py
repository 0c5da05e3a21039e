"""The DyDiff envs (``DyDiff-Hopper``, ...): Gymnasium envs whose every step is sampled from a
learned dynamics model."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from dreamenv.envs.core import (KEY_HIGH, ImaginedBatch, StepBatch, checkpoint_env_id,
                                load_dynamics, predict_options, validate_actions)
from dreamenv.envs.real import RealBody
from dreamenv.envs.starts import DatasetStarts, Start
from dreamenv.models.history import History
from dreamenv.tasks import Task, get_task, task_for_env


class DreamSetup:
    """What the single and the vector env share: the real body (spaces, resets, renderer), the
    model and its options, the start distribution, and per-row info."""

    def _setup(self, task: str | Task | None, num_rows: int, model: object,
               denoising_steps: int | None, history: int | None, history_noise: float | None,
               precision: str | None, start: str | Start, dataset: str | None,
               render_mode: str | None, width: int, height: int,
               sampling_temperature: float | None = None, device: str | None = None) -> None:
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if task is None:  # the generic env: whatever env the checkpoint learned
            task = task_for_env(checkpoint_env_id(model), generic=True)
        self.task = task if isinstance(task, Task) else get_task(task)
        self.dynamics, termination, config = load_dynamics(model, self.task, device)
        self.real = RealBody(self.task, render_mode, width, height)
        obs_dim = self.real.observation_space.shape[0]
        act_dim = self.real.action_space.shape[0]
        if (self.dynamics.state_dim, self.dynamics.action_dim) != (obs_dim, act_dim):
            raise ValueError(f"model predicts {self.dynamics.state_dim}-dim states from "
                             f"{self.dynamics.action_dim}-dim actions; {self.task.env_id} has "
                             f"{obs_dim} and {act_dim}")
        options = predict_options(self.dynamics, num_rows, denoising_steps, history_noise,
                                  precision, sampling_temperature)
        space = self.real.observation_space
        self.core = ImaginedBatch(self.dynamics, termination, num_rows, history, options,
                                  self.real.dt, self.task.body,
                                  (space.low.astype(np.float64), space.high.astype(np.float64)))
        self.termination_rule = (self.task.rule if self.task.known else
                                 "learned: the model's termination head (no task module "
                                 f"for {self.task.env_id})")
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
                                                self.task.env_id, (self.dynamics.state_dim,
                                                                   self.dynamics.action_dim))
        self.render_mode = render_mode
        self.obs_dtype = self.real.observation_space.dtype  # float64 for MuJoCo, float32 often
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
            space = self.real.observation_space
            if not ((obs >= space.low) & (obs <= space.high)).all():
                raise ValueError(f"options['initial_obs'] {obs.tolist()} is outside the "
                                 f"observation space {space}")
            x = 0.0
        elif self.dataset_starts is not None:
            obs, x, past = self.dataset_starts.draw(rng)
        else:
            obs, x = self.real.reset_state(rng)
        return obs, x, past, int(rng.integers(KEY_HIGH))

    def _infos(self, obs: np.ndarray, x_position: np.ndarray, out: StepBatch | None = None
               ) -> dict[str, np.ndarray]:
        """Info arrays ``(N,)`` for observations ``obs`` ``(N, S)``: the real env's keys the task
        defines (x position, torso height over its start, x velocity and reward terms), and on a
        step the model's uncertainty and whether it diverged."""
        body, infos = self.task.body, {}
        if body is not None:
            infos["x_position"] = x_position
            if body.height_index is not None:
                infos["z_distance_from_origin"] = obs[:, body.height_index] - self.real.z_origin
        if out is not None:
            infos.update(out.body_info)
            infos["uncertainty"] = out.uncertainty
            infos["model_diverged"] = out.diverged
        return infos


class DreamEnv(DreamSetup, gym.Env):
    """A real task simulated by a learned model: ``DyDiff-Hopper``, ``DyDiff-Walker2d``,
    ``DyDiff-HalfCheetah`` (a task module each, :mod:`dreamenv.tasks`), or ``DyDiff`` with
    ``model=DIR`` for a model of any other env (bring-your-own data).

    Spaces are the real env's: for Hopper, observation ``Box(-inf, inf, (11,), float64)`` =
    ``qpos[1:]`` (5) + ``clip(qvel, -10, 10)`` (6), action ``Box(-1, 1, (3,), float32)``; for
    Walker2d 17 and 6, HalfCheetah 17 (velocities not clipped) and 6.

    Step: the model samples ``(s_{t+1}, r_t)`` from the rolling window of its own past states
    (re-noised at ``history_noise``) and the action; all randomness comes from a stream seeded
    from ``np_random``, so ``reset(seed=s)`` makes the whole episode reproducible.

    * **reward**: the model's predicted reward (it learned the real env's: for the locomotion
      tasks forward velocity + healthy bonus (not HalfCheetah) - control cost).
    * **terminated**: the task's own rule on the predicted observation (Hopper-v5: unhealthy when
      ``z <= 0.7``, ``|angle| >= 0.2`` or any state beyond 100; Walker2d-v5: height outside
      ``(0.8, 2)`` or angle outside ``(-1, 1)``; HalfCheetah-v5: never). An env without a task
      module uses the model's learned termination head: ``metadata["termination"]`` says
      which rule ends episodes, and for a learned head so does the reset info's
      ``termination``. Also terminated when the model produced a
      non-finite value (``info["model_diverged"]``).
    * **truncated**: by ``TimeLimit`` at the real env's limit (1000 for the locomotion tasks)
      when made by ``gym.make``.
    * **info** (the real env's keys where the task defines them): ``x_position`` (integrated
      from the predicted x velocity), ``x_velocity``, ``z_distance_from_origin`` (not
      HalfCheetah), ``reward_forward``, ``reward_ctrl``, ``reward_survive`` (the reward terms
      recomputed from the imagined state and action; the model predicts the reward itself);
      always ``uncertainty`` (the model's own score, see ``Prediction``) and
      ``model_diverged``.
    * **actions** outside the bounds are clipped, as MuJoCo's ctrlrange clips controls; the
      real env's control cost uses the unclipped action, the model saw the clipped one. NaN,
      inf, a wrong shape or a non-numeric action raise ``ValueError``.

    Args:
        task: dreamenv task name (``"hopper"``, ``"walker2d"``, ``"halfcheetah"``) or
            ``None``: the env the checkpoint ``model`` was trained on.
        model: checkpoint directory or model object; ``None`` loads the task's shipped model.
        denoising_steps: sampling steps, 1..50 (``None``: the model's default, 2).
        history: past transitions the model sees, ``0..history_len`` (``None``: all, 4).
        history_noise: stabilisation noise level of the history (``None``: the model's).
        sampling_temperature: scale of the sampler's starting noise, 0..1 (``None``: the
            model's; 0 makes each step deterministic given its history and action).
        precision: ``"float32"``, ``"bfloat16"`` or ``"auto"`` (default): float32 for fewer
            than 32 rows (a single env), bfloat16 for wider batches on devices with native
            bfloat16 (GPUs from Ampere on, CPUs with AVX512-BF16 or AMX), where it halves the
            cost of a step and changes open-loop accuracy by under 2%
            (benchmarks/model_accuracy.py). Rows of the same precision agree to float
            tolerance however they are batched; pin ``precision`` to compare across widths.
        start: ``"real"`` (the real env's reset distribution; ``reset(seed=s)`` returns exactly
            the real env's observation) or ``"dataset"`` (a random dataset state with its
            recorded history, for MBPO-style branched rollouts).
        dataset: dataset name or path for ``start="dataset"`` (default: the model's training
            set).
        render_mode: ``None`` or ``"rgb_array"`` (the real MuJoCo body posed in the imagined
            state; tasks with a body layout only).
        device: where the model runs (``"cuda"``, ``"cuda:1"``, ...; ``None``: the CPU, or a
            model object's own device). Observations and rewards stay numpy either way.

    ``reset(options={"initial_obs": obs})`` starts from ``obs`` with an empty history.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 125}

    def __init__(self, task: str | Task | None = "hopper", model: object = None,
                 denoising_steps: int | None = None, history: int | None = None,
                 history_noise: float | None = None, precision: str = "auto",
                 start: str | Start = Start.REAL, dataset: str | None = None,
                 render_mode: str | None = None, width: int = 480, height: int = 480,
                 sampling_temperature: float | None = None, device: str | None = None):
        self._setup(task, 1, model, denoising_steps, history, history_noise, precision, start,
                    dataset, render_mode, width, height, sampling_temperature, device)
        self.observation_space = self.real.observation_space
        self.action_space = self.real.action_space
        self.metadata = {**self.metadata, "render_fps": self.real.render_fps,
                         "render_modes": ["rgb_array"] if self.task.body is not None else [],
                         "termination": self.termination_rule}
        self._obs: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None
              ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        obs, x, past, key = self._draw_start(self.np_random, (options or {}).get("initial_obs"))
        self.core.reset_rows(np.array([0]), obs[None], np.array([x]), np.array([key]),
                             past)
        self._obs = obs
        info = {k: float(v[0]) for k, v in self._infos(obs[None], np.array([x])).items()}
        if not self.task.known:  # say that episodes end where the learned head says
            info["termination"] = self.termination_rule
        return obs.astype(self.obs_dtype), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._obs is None:
            raise gym.error.ResetNeeded("DreamEnv: call reset() before step()")
        a = validate_actions(action, self.action_space.shape, self.low, self.high)
        out = self.core.step(a[None])
        self._obs = out.obs[0]
        info = {k: v[0].item() for k, v in self._infos(out.obs, out.x_position, out).items()}
        return (out.obs[0].astype(self.obs_dtype), float(out.reward[0]), bool(out.terminated[0]),
                False, info)

    def render(self) -> np.ndarray | None:
        if self.render_mode is None or self._obs is None:
            return None
        return self.real.render(self._obs, float(self.core.x_position[0]))

    def close(self) -> None:
        if hasattr(self, "real"):  # construction may have failed before it existed
            self.real.close()


def make_learned_env(model: object = None, **kwargs: Any) -> gym.Env:
    """The entry point of ``gym.make("DyDiff", model=DIR)``: the env the checkpoint ``DIR``
    learned (any Gymnasium env with flat Box spaces), truncated at that real env's time limit
    (a ``TimeLimit`` inside; ``gym.make``'s ``max_episode_steps`` adds a shorter one)."""
    env = DreamEnv(task=kwargs.pop("task", None), model=model, **kwargs)
    limit = env.task.max_episode_steps
    return gym.wrappers.TimeLimit(env, limit) if limit else env
