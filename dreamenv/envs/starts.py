"""Where an imagined episode starts: the real env's reset distribution, or dataset states.

Dataset starts are what MBPO-style offline RL uses: branch short imagined rollouts off states the
data actually visited, each with its recorded history, so the model is conditioned exactly as in
training.
"""

from __future__ import annotations

import enum
from pathlib import Path

import numpy as np

from dreamenv.datasets.dataset import DatasetError
from dreamenv.datasets.hdf5 import load_hdf5
from dreamenv.models.history import History, dataset_windows, episode_starts


class Start(str, enum.Enum):
    """``start=`` of the DyDiff envs."""

    REAL = "real"
    """The real env's reset distribution (``reset(seed=s)`` matches the real env's, e.g.
    ``Hopper-v5``'s)."""
    DATASET = "dataset"
    """A uniformly drawn dataset state, with its recorded history."""


class DatasetStarts:
    """Draw start states and their recorded history windows from an offline dataset."""

    def __init__(self, dataset: str | Path, history_len: int, env_id: str,
                 widths: tuple[int, int] | None = None):
        """``widths``: the model's ``(state, action)`` widths the data must have."""
        from dreamenv.datasets.recipes import RECIPES, dataset_path
        from dreamenv.training.common import load_training_dataset, looks_like_minari_id

        path = Path(dataset_path(str(dataset)) if str(dataset) in RECIPES else dataset)
        if str(dataset) not in RECIPES and not path.is_file() and looks_like_minari_id(
                str(dataset)):
            data = load_training_dataset(str(dataset), env_id)[0]  # a local Minari dataset
        elif not path.is_file():
            raise DatasetError(f"{path}: dataset for start='dataset' not found; make it with "
                               f"`dreamenv data make {dataset}`")
        else:
            data = load_hdf5(path)
        if data.metadata.get("env_id") not in (None, env_id):
            raise DatasetError(f"{path}: dataset of {data.metadata.get('env_id')!r}, the env "
                               f"is {env_id!r}")
        self.observations = data["observations"]
        self.actions = data["actions"]
        found = (self.observations.shape[1], self.actions.shape[1])
        if widths is not None and found != tuple(widths):
            raise DatasetError(f"{path}: observations and actions of widths {found}, the model "
                               f"has {tuple(widths)}")
        self.starts = episode_starts(data["terminals"], data["timeouts"])
        qpos = data.arrays.get("infos/qpos")
        self.x_positions = None if qpos is None else np.asarray(qpos[:, 0], dtype=np.float64)
        self.history_len = history_len

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, float, History]:
        """One start: ``(obs (S,) float64, x position, window of batch 1)``. Datasets without
        ``infos/qpos`` start at x = 0 (x only matters for rendering)."""
        row = int(rng.integers(len(self.observations)))
        window = dataset_windows(self.observations, self.actions, self.starts, np.array([row]),
                                 self.history_len)
        x = 0.0 if self.x_positions is None else float(self.x_positions[row])
        return self.observations[row].astype(np.float64), x, window
