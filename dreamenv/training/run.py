"""``train_model``: dataset -> split -> termination head -> the chosen model's training loop."""

from __future__ import annotations

from pathlib import Path

import torch

from dreamenv.models.diffusion import DiffusionConfig
from dreamenv.models.ensemble import EnsembleConfig
from dreamenv.models.trajectory import TrajectoryConfig
from dreamenv.models.termination import LearnedTermination
from dreamenv.training.common import (
    ModelKind,
    TrainConfig,
    dataset_source,
    load_training_dataset,
)
from dreamenv.training.data import TransitionData
from dreamenv.training.diffusion import train_diffusion
from dreamenv.training.ensemble import train_ensemble
from dreamenv.training.trajectory import train_trajectory


def train_model(kind: ModelKind, train: TrainConfig,
                model_cfg: DiffusionConfig | EnsembleConfig | TrajectoryConfig,
                out_dir: str | Path) -> Path:
    """Train a dynamics model of ``kind`` on ``train.dataset`` into ``out_dir`` (resumable)."""
    if train.teacher and kind != ModelKind.DIFFUSION:
        raise ValueError(f"--teacher distils the step model (--model diffusion), not {kind.value}")
    if train.teacher and not train.teacher_weight > 0:  # also refuses NaN
        raise ValueError(f"--teacher-weight must be positive, got {train.teacher_weight}")
    torch.set_num_threads(train.threads)
    dataset, name = load_training_dataset(train.dataset, train.env_id)
    env_id = dataset.metadata["env_id"]  # load_training_dataset made sure it is there
    data = TransitionData(dataset, train.holdout_fraction, train.seed)
    info = {"name": name, "source": dataset_source(train.dataset), "sha256": data.fingerprint,
            "transitions": len(dataset), "train_rows": len(data.train_rows),
            "holdout_rows": len(data.holdout_rows)}
    rows = data.train_rows
    torch.manual_seed(train.seed)  # the head's initial weights: same on a resumed run
    termination = LearnedTermination(data.obs.shape[1])
    termination.fit(data.next_obs[rows], data.terminals[rows], seed=train.seed)
    loop = {ModelKind.DIFFUSION: train_diffusion, ModelKind.ENSEMBLE: train_ensemble,
            ModelKind.TRAJECTORY: train_trajectory}[kind]
    return loop(train, model_cfg, data, env_id, info, out_dir, termination)
