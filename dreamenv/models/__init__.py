"""Dynamics models: the diffusion-forcing step model, the MLP-ensemble baseline, the trajectory
model, and their pieces.

The step models implement :class:`~dreamenv.models.interface.DynamicsModel`:
``predict(history, action, generator) -> Prediction(next_state, reward, uncertainty)``; the
trajectory model denoises whole windows (``sample_trajectory``) for DyDiff's generation.
``load_checkpoint(DIR)`` loads any kind (``DIR`` may also name a shipped model, see
``shipped_models()``); ``pretrained_path("hopper")`` is the shipped step model.
"""

from __future__ import annotations

from pathlib import Path

from dreamenv.models.checkpoint import (PRETRAINED_DIR, CheckpointError, load_checkpoint,
                                        model_dir, save_checkpoint, shipped_models)
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics
from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble, Propagation
from dreamenv.models.history import History
from dreamenv.models.interface import DynamicsModel, Prediction
from dreamenv.models.trajectory import TrajectoryConfig, TrajectoryDiffusion


def pretrained_path(task: str) -> Path:
    """Directory of the pretrained step model shipped for ``task`` (e.g. ``hopper``)."""
    return PRETRAINED_DIR / task


def pretrained_trajectory_path(task: str) -> Path:
    """Directory of the pretrained trajectory model shipped for ``task`` (DyDiff's generation)."""
    return PRETRAINED_DIR / f"{task}-trajectory"


__all__ = ["CheckpointError", "DiffusionConfig", "DiffusionDynamics", "DynamicsModel",
           "EnsembleConfig", "GaussianEnsemble", "History", "Prediction", "Propagation",
           "TrajectoryConfig", "TrajectoryDiffusion", "load_checkpoint", "model_dir",
           "pretrained_path", "pretrained_trajectory_path", "save_checkpoint", "shipped_models"]
