"""The batched core of every DyDiff env: a dynamics model, its rolling noisy-history buffer and
one random stream per row. The single env is this core with one row; the vector env, N rows.

The buffer of one row, for a model window of ``L = 2`` past transitions (the layout of
:mod:`dreamenv.models.history`)::

    after        reset          step(a0)        step(a1)         step(a2)
    states       [ -,  -, s0]   [ -, s0, s1]    [s0, s1, s2]     [s1, s2, s3]
    actions      [ -,  - ]      [ -, a0 ]       [a0, a1 ]        [a1, a2 ]
    valid        [ F,  F,  T]   [ F,  T,  T]    [ T,  T,  T]     [ T,  T,  T]

``step(a_t)`` asks the model for ``(s_{t+1}, r_t)`` given the window that ends in ``s_t``, then
shifts the window left by one token. Past states are the model's own clean samples; the model
re-noises them at ``history_noise`` with fresh noise on every call (Diffusion Forcing's noisy
history, which is what keeps long imagined rollouts stable). Tokens before the episode start,
and tokens older than the ``history`` the env was asked for, are masked.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dreamenv.models import CheckpointError, DiffusionDynamics, load_checkpoint, pretrained_path
from dreamenv.models.checkpoint import model_dir, read_config
from dreamenv.models.history import History
from dreamenv.models.interface import DynamicsModel
from dreamenv.models.noise import RowNoise
from dreamenv.tasks import Locomotion, Task, TerminationFn

KEY_HIGH = 2**63  # row stream keys are drawn in [0, 2^63) from the row's np_random


class ModelClock:
    """Seconds this process has spent in the dynamics model's ``predict``, over every DyDiff env
    it steps: how the main job (``dreamenv imagine``) reports the model's share of its time."""

    seconds = 0.0

    @classmethod
    def take(cls) -> float:
        """The seconds counted since the last call (and start counting anew)."""
        seconds, cls.seconds = cls.seconds, 0.0
        return seconds


def load_dynamics(model: object, task: Task, device: str | torch.device | None = None
                  ) -> tuple[DynamicsModel, TerminationFn, dict]:
    """The model an env steps in, its termination rule and its checkpoint config (``{}`` for a
    model object). ``model`` is ``None`` (the shipped model for the task), a checkpoint
    directory or a shipped model's name (``"walker2d-rme"``), a list of them or ``"A+B"`` (a
    :class:`ModelEnsemble` of those checkpoints: its uncertainty is their disagreement; the
    first one's termination and config), or a model object with ``predict``; a checkpoint is
    loaded onto ``device`` (default the CPU), a model object must already be there."""
    members = checkpoint_members(model)
    if len(members) > 1:
        from dreamenv.models.model_ensemble import ModelEnsemble

        loaded = [load_dynamics(m, task, device) for m in members]
        return ModelEnsemble([m[0] for m in loaded]), loaded[0][1], loaded[0][2]
    model = members[0] if members else model
    if model is None:
        model = pretrained_path(task.name)
        if not (model / "config.json").is_file():
            raise CheckpointError(f"no model ships for {task.name} yet: pass model=DIR, a "
                                  f"checkpoint trained with `dreamenv train --dataset "
                                  f"{task.name}-medium --out DIR`")
    if isinstance(model, (str, Path)):
        path = model_dir(model).resolve()
        stamps = tuple(p.stat().st_mtime_ns if p.exists() else 0
                       for p in (path / "config.json", path / "model.safetensors"))
        return _load_cached(str(path), stamps, task, str(env_device(device)))
    if not callable(getattr(model, "predict", None)):
        raise ValueError(f"model must be a checkpoint directory or a dynamics model with "
                         f"predict(), got {type(model).__name__}")
    if task.terminated is None:  # the learned head lives in the checkpoint, not the object
        raise ValueError(f"a model object for {task.env_id} needs a termination rule: pass "
                         "task=Task(..., terminated=fn) (dreamenv.tasks.Task), or model=DIR, "
                         "whose checkpoint has the learned termination head")
    if device is not None and model_device(model) != env_device(device):
        raise ValueError(f"the model object is on {model_device(model)}, not device={device}: "
                         "move it first (model.to(device)) or pass a checkpoint directory")
    return model, task.termination(), {}  # type: ignore[return-value]


def checkpoint_members(model: object) -> list:
    """The checkpoint directories ``model`` names: one for a directory, several for a list or
    ``"DIR1+DIR2"`` (split only where no directory has that very name); ``[]`` otherwise."""
    if isinstance(model, str) and "+" in model and not Path(model).exists():
        model = model.split("+")
    if isinstance(model, (list, tuple)):
        if not model or not all(isinstance(m, (str, Path)) for m in model):
            raise ValueError(f"an ensemble of checkpoints is a list of directories, got "
                             f"{model!r}")
        return list(model)
    return [model] if isinstance(model, (str, Path)) else []


def env_device(device: str | torch.device | None) -> torch.device:
    """``device`` as a torch device (``None``: the CPU); a one-line error where it is absent."""
    device = torch.device("cpu" if device is None else device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}: CUDA is not available on this machine")
    return device


def model_device(model: object) -> torch.device:
    """Where a model's weights are (the CPU for a model without torch parameters)."""
    parameters = getattr(model, "parameters", None)
    first = next(iter(parameters()), None) if callable(parameters) else None
    return torch.device("cpu") if first is None else first.device


def checkpoint_env_id(model: object) -> str:
    """The env a checkpoint directory was trained on (what ``gym.make("DyDiff", model=DIR)``
    becomes)."""
    members = checkpoint_members(model)
    if not members:
        raise ValueError("the generic DyDiff env needs model=DIR, a checkpoint directory (its "
                         "config says which env it learned); pass task=NAME for a model object")
    env_ids = {str(read_config(m).get("env_id")) for m in members}
    if len(env_ids) > 1:
        raise ValueError(f"the ensemble's checkpoints learned different envs: {sorted(env_ids)}")
    return env_ids.pop()


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, stamps: tuple, task: Task, device: str
                 ) -> tuple[DynamicsModel, TerminationFn, dict]:
    """Envs share a loaded checkpoint (inference only reads it); a rewritten file reloads."""
    model, learned, config = load_checkpoint(path, task.env_id)
    model = model.to(device)  # the learned termination head stays on the CPU: it reads numpy
    if not callable(getattr(model, "predict", None)):
        raise CheckpointError(f"{path}: a {model.kind} model denoises whole trajectories and "
                              "cannot step an env; use it with `dreamenv rollouts`, or give "
                              "the env a diffusion or ensemble checkpoint")
    return model, task.termination(learned), config


@dataclass
class StepBatch:
    """What one model step gives for every row (numpy, float64 observations)."""

    obs: np.ndarray  # (N, S)
    reward: np.ndarray  # (N,)
    terminated: np.ndarray  # (N,) bool
    uncertainty: np.ndarray  # (N,)
    diverged: np.ndarray  # (N,) bool: the model produced NaN/inf; the row was ended
    x_position: np.ndarray  # (N,) integrated from the x velocity (0 for a task without a body)
    body_info: dict[str, np.ndarray]  # the real env's step info keys the task defines, (N,) each


class ImaginedBatch:
    """``N`` imagined rows stepped by one batched model call.

    Args:
        model: the dynamics model (``DynamicsModel``).
        termination: maps ``(N, S)`` next observations to ``(N,)`` bools.
        num_rows: ``N``.
        history: past transitions the model sees (``None``: all the model was trained with;
            fewer are masked out, as the model saw masked tokens in training).
        predict_kwargs: extra ``predict`` arguments (denoising steps, history noise, precision,
            sampling temperature).
        dt: seconds per step, to integrate the x position from the predicted x velocity.
        body: the task's locomotion layout (x velocity, reward terms), or ``None``.
        obs_bounds: the observation space's ``(low, high)``: predictions are clipped to its
            finite bounds (Pendulum's ``cos, sin`` in [-1, 1]), so every observation lies in
            the space, as the real env's do. Unbounded spaces (MuJoCo's) cost nothing.
    """

    def __init__(self, model: DynamicsModel, termination: TerminationFn, num_rows: int,
                 history: int | None, predict_kwargs: dict, dt: float,
                 body: Locomotion | None = None,
                 obs_bounds: tuple[np.ndarray, np.ndarray] | None = None):
        self.model, self.termination = model, termination
        self.device = model_device(model)
        bounded = obs_bounds is not None and np.isfinite(np.concatenate(obs_bounds)).any()
        self.obs_bounds = obs_bounds if bounded else None
        self.num_rows, self.predict_kwargs = num_rows, predict_kwargs
        self.dt, self.body = dt, body
        length = model.history_len
        history = length if history is None else int(history)
        if not 0 <= history <= length:
            raise ValueError(f"history must be in 0..{length} (the model was trained with "
                             f"{length} past transitions), got {history}")
        self.hidden_tokens = length - history  # oldest tokens always masked
        self.window = History.start(torch.zeros(num_rows, model.state_dim, device=self.device),
                                    length, model.action_dim)
        self.noise = RowNoise(np.zeros(num_rows, dtype=np.uint64),
                              None if self.device.type == "cpu" else self.device)
        self.x_position = np.zeros(num_rows)

    def reset_rows(self, rows: np.ndarray, obs: np.ndarray, x_position: np.ndarray,
                   keys: np.ndarray, past: History | None = None) -> None:
        """Start ``rows`` at ``obs`` ``(k, S)``; ``past`` (batch ``k``) is a recorded window
        ending in ``obs``, otherwise the episode starts with no history."""
        if past is None and self.device.type == "cpu":
            # History.start through NumPy views: a random Hopper policy resets every ~23
            # steps, and the torch ops below cost ~0.1 ms more a reset.
            states, actions, valid = self.window.numpy_views()
            states[rows] = 0.0
            states[rows, -1] = obs
            actions[rows] = 0.0
            valid[rows] = False
            valid[rows, -1] = True
        else:
            state = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=self.device)
            if past is None:
                past = History.start(state, self.model.history_len, self.model.action_dim)
            past = History(*(t.to(self.device) for t in (past.states, past.actions,
                                                          past.valid)))
            self.window.states[rows] = past.states
            self.window.states[rows, -1] = state
            self.window.actions[rows] = past.actions
            self.window.valid[rows] = past.valid
        if self.hidden_tokens:
            self.window.valid[rows, : self.hidden_tokens] = False
        self.x_position[rows] = x_position
        self.noise.reseed(rows, keys)

    def kick_rows(self, rows: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Add ``delta`` ``(k, S)`` to ``rows``' current imagined state, which the next step
        continues from; returns the kicked states ``(k, S)`` (float64). A robustness probe:
        how large a per-step push a gait survives in the model (evaluation/falls.py)."""
        current = self.window.states[:, -1]
        delta = np.asarray(delta, dtype=np.float64)
        if delta.shape != (len(rows), current.shape[1]) or not np.isfinite(delta).all():
            raise ValueError(f"kick must be a finite array of shape {(len(rows), current.shape[1])}"
                             f", got shape {delta.shape}")
        kicked = current[rows].cpu().double().numpy() + delta
        current[rows] = torch.as_tensor(kicked, dtype=current.dtype, device=self.device)
        return kicked

    def step(self, actions: np.ndarray) -> StepBatch:
        """One model step for all rows; ``actions`` ``(N, A)`` already validated and clipped."""
        if self.in_numpy:
            return self._step_arrays(np.asarray(actions, dtype=np.float32))
        return self._step_tensors(actions)

    @property
    def in_numpy(self) -> bool:
        """Whether a step runs in NumPy from end to end (a diffusion model sampling on the
        NumPy backend: few rows on the CPU): no tensor is made, ~0.1 ms less per step."""
        return (self.predict_kwargs.get("backend") == "numpy"
                and isinstance(self.model, DiffusionDynamics))

    def _step_arrays(self, action: np.ndarray) -> StepBatch:
        states, past_actions, valid = self.window.numpy_views()
        start = time.perf_counter()
        next_state, reward, uncertainty = self.model.predict_arrays(
            states, valid, past_actions, action, self.noise, **self.predict_kwargs)
        ModelClock.seconds += time.perf_counter() - start
        return self._finish(action, action, next_state, reward, uncertainty)

    @torch.no_grad()
    def _step_tensors(self, actions: np.ndarray) -> StepBatch:
        action = torch.from_numpy(np.asarray(actions, dtype=np.float32)).to(self.device)
        start = time.perf_counter()
        pred = self.model.predict(self.window, action, self.noise, **self.predict_kwargs)
        if self.device.type == "cuda":  # count the kernels, not their launch: _finish's copy
            torch.cuda.synchronize(self.device)  # to the host would wait for them anyway
        ModelClock.seconds += time.perf_counter() - start
        return self._finish(actions, action, pred.next_state, pred.reward, pred.uncertainty)

    def _finish(self, actions: np.ndarray, action, next_state, reward, uncertainty
                ) -> StepBatch:
        """Everything after the model call, for its tensors (any device; ``action`` the
        window's copy of ``actions``) or NumPy arrays: guard against divergence, clip to the
        space, shift the window, terminate, infos."""
        arrays = isinstance(next_state, np.ndarray)
        obs = (next_state if arrays else next_state.cpu().numpy()).astype(np.float64)
        reward = (reward if arrays else reward.cpu().numpy()).astype(np.float64)
        uncertainty = (uncertainty if arrays else uncertainty.cpu().numpy()).astype(np.float64)
        # A sum is finite exactly when every term is (float64 cannot overflow on float32s).
        total = obs.sum(1) + reward
        all_finite = np.isfinite(total + uncertainty).all()  # one check on the usual path
        diverged = np.zeros(len(obs), dtype=bool) if all_finite else ~np.isfinite(total)
        any_diverged = not all_finite and diverged.any()
        if any_diverged:  # never let NaN/inf out: keep the last state and end the row
            obs[diverged] = self.window.current.cpu().numpy()[diverged]
            reward[diverged] = 0.0
        if not all_finite:
            uncertainty[~np.isfinite(uncertainty)] = 0.0
        if self.obs_bounds is not None:
            obs = np.minimum(np.maximum(obs, self.obs_bounds[0]), self.obs_bounds[1])  # clip
        if any_diverged or self.obs_bounds is not None:  # the model sees what the env returns
            next_state = obs.astype(np.float32) if arrays else torch.as_tensor(
                obs, dtype=torch.float32, device=self.device)
        self.window.push_(action, next_state)
        if self.hidden_tokens:
            self.window.valid[:, : self.hidden_tokens] = False
        terminated = np.asarray(self.termination(obs), dtype=bool) | diverged
        body_info = {}
        if self.body is not None:
            x_velocity = obs[:, self.body.x_velocity_index]
            self.x_position = self.x_position + self.dt * x_velocity
            body_info = {"x_velocity": x_velocity,
                         **self.body.reward_terms(obs, actions, terminated)}
        return StepBatch(obs, reward, terminated, uncertainty, diverged,
                         self.x_position.copy(), body_info)


AUTO_BFLOAT16_ROWS = 32
"""``precision="auto"`` uses bfloat16 from this many rows up: below it a bfloat16 matmul costs
more than a float32 one (fixed dispatch cost), above it about half (benchmarks/throughput.py).
Below it a float32 model samples in NumPy (``backend="numpy"``), whose calls cost less."""


def bfloat16_is_fast(device: torch.device | None = None) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices natively: a GPU that supports it
    (Ampere and later), or a CPU with AVX512-BF16 / AMX through oneDNN."""
    if device is not None and device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def predict_options(model: DynamicsModel, num_rows: int, denoising_steps: int | None,
                    history_noise: float | None, precision: str | None,
                    sampling_temperature: float | None = None) -> dict:
    """``predict`` keyword arguments for the env's sampling options. ``precision`` ``"auto"``
    (or ``None``) is float32 below :data:`AUTO_BFLOAT16_ROWS` rows and bfloat16 from there on
    devices with native bfloat16 (GPUs from Ampere on, CPUs with AVX512-BF16 or AMX). A
    diffusion-only option given for another kind of model is an error rather than silently
    ignored."""
    auto = precision in (None, "auto")
    if isinstance(model, DiffusionDynamics):
        if denoising_steps is not None and not 1 <= int(denoising_steps) <= 50:
            raise ValueError(f"denoising_steps must be in 1..50, got {denoising_steps}")
        if history_noise is not None and not 0 <= float(history_noise) <= 1:
            raise ValueError(f"history_noise must be in [0, 1], got {history_noise}")
        if sampling_temperature is not None and not 0 <= float(sampling_temperature) <= 1:
            raise ValueError(f"sampling_temperature must be in [0, 1], got {sampling_temperature}")
        if auto:
            wide = num_rows >= AUTO_BFLOAT16_ROWS and bfloat16_is_fast(model_device(model))
            precision = "bfloat16" if wide else model.cfg.precision
        # Few rows: the same float32 function in NumPy, a third of torch's cost per call.
        numpy = (num_rows < AUTO_BFLOAT16_ROWS and precision == "float32" and model.mix is None
                 and all(p.device.type == "cpu" for p in model.parameters()))
        backend = "numpy" if numpy else "torch"
        model.sampling_plan(precision, backend)  # validates the name now, not at the first step
        options = {"steps": denoising_steps, "history_noise": history_noise,
                   "precision": precision, "temperature": sampling_temperature,
                   "backend": backend}
        return {k: v for k, v in options.items() if v is not None}
    given = [name for name, value in (("denoising_steps", denoising_steps),
                                      ("history_noise", history_noise),
                                      ("sampling_temperature", sampling_temperature))
             if value is not None]
    if not auto:
        given.append("precision")
    if given:
        raise ValueError(f"{', '.join(given)} only apply to diffusion models, not "
                         f"{type(model).__name__}")
    return {}


def validate_actions(action: object, shape: tuple[int, ...], low: np.ndarray,
                     high: np.ndarray) -> np.ndarray:
    """The action as float32 clipped to ``[low, high]`` (as MuJoCo's ctrlrange clips controls);
    ``ValueError`` naming the problem for a wrong shape, a non-numeric dtype, NaN or inf."""
    try:
        a = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"action must be numeric with shape {shape}, got "
                         f"{type(action).__name__} ({e})") from None
    if a.shape != shape:
        raise ValueError(f"action has shape {a.shape}, expected {shape}")
    if not np.isfinite(a).all():
        bad = np.argwhere(~np.isfinite(a))[:4].tolist()
        raise ValueError(f"action contains NaN or inf (at index {bad})")
    # np.clip's Python wrapper costs more than these two ufuncs on a single env's action.
    return np.minimum(np.maximum(a, low), high).astype(np.float32)
