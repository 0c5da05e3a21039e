"""Dynamics models: the diffusion-forcing model, the MLP-ensemble baseline, and their pieces.

Every model implements :class:`~dreamenv.models.interface.DynamicsModel`:
``predict(history, action, generator) -> Prediction(next_state, reward, uncertainty)``.
``load_checkpoint(DIR)`` loads either kind; ``pretrained_path("hopper")`` is the shipped model.
"""

from __future__ import annotations

from pathlib import Path

from dreamenv.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics
from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble, Propagation
from dreamenv.models.history import History
from dreamenv.models.interface import DynamicsModel, Prediction

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


def pretrained_path(task: str) -> Path:
    """Directory of the pretrained model shipped for ``task`` (e.g. ``hopper``)."""
    return PRETRAINED_DIR / task


__all__ = ["CheckpointError", "DiffusionConfig", "DiffusionDynamics", "DynamicsModel",
           "EnsembleConfig", "GaussianEnsemble", "History", "Prediction", "Propagation",
           "load_checkpoint", "pretrained_path", "save_checkpoint"]
