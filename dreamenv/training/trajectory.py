"""Train the trajectory model with the shared denoiser loop, on windows of ``window`` steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dreamenv.models.checkpoint import save_checkpoint
from dreamenv.models.normalizer import Normalizer, StateBounds
from dreamenv.models.termination import LearnedTermination
from dreamenv.models.trajectory import TrajectoryConfig, TrajectoryDiffusion
from dreamenv.training.common import ModelKind, RunState, TrainConfig, run_config
from dreamenv.training.data import TransitionData, WindowBatch
from dreamenv.training.loop import denoiser_loop, device_of

HOLDOUT_WINDOWS = 1024
NORM_WINDOWS = 20_000  # windows the per-step target statistics are estimated from


def fit_window_normalizers(model: TrajectoryDiffusion, data: TransitionData,
                           rows: np.ndarray, rng: np.random.Generator
                           ) -> tuple[Normalizer, Normalizer, StateBounds]:
    """State, per-step target and state-bound statistics from training rows; the target's
    mean and std per step ``k`` use only the windows still inside their episode at ``k``."""
    cfg = model.cfg
    picked = rng.choice(rows, min(NORM_WINDOWS, len(rows)), replace=False)
    batch = data.windows(picked, cfg.history_len, cfg.window)
    targets = model.targets(batch.history, batch.states, batch.rewards).double()
    weight = batch.valid.double()[..., None]  # (B, W, 1)
    count = weight.sum(0).clamp_min(1.0)
    mean = (targets * weight).sum(0) / count
    std = (((targets - mean) ** 2 * weight).sum(0) / count).sqrt()
    return (Normalizer.fit(data.obs[rows]), Normalizer(mean, std),
            StateBounds.fit(np.concatenate([data.obs[rows], data.next_obs[rows]])))


def train_trajectory(train: TrainConfig, model_cfg: TrajectoryConfig, data: TransitionData,
                     env_id: str, dataset_info: dict, out_dir: str | Path,
                     termination: LearnedTermination) -> Path:
    """Train (or resume) in ``out_dir``; the final EMA model is saved there as a checkpoint."""
    out_dir = Path(out_dir)
    state_file = RunState(out_dir, run_config(train, ModelKind.TRAJECTORY, model_cfg))
    if train.own_history_share:
        raise ValueError("own_history_share applies to the step model only")
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    rows = data.train_rows
    obs_dim, act_dim = data.obs.shape[1], data.actions.shape[1]
    device = device_of(train.device)
    model = TrajectoryDiffusion(model_cfg, obs_dim, act_dim)
    norms = fit_window_normalizers(model, data, rows, np.random.default_rng(train.seed + 1))
    model = TrajectoryDiffusion(model_cfg, obs_dim, act_dim, *norms).to(device)
    holdout_rows = np.random.default_rng(123).choice(
        data.holdout_rows, min(HOLDOUT_WINDOWS, len(data.holdout_rows)), replace=False)
    holdout = data.windows(holdout_rows, model_cfg.history_len, model_cfg.window).to(device)

    def next_batch(step: int, ema: TrajectoryDiffusion) -> WindowBatch:
        picked = rng.choice(rows, train.batch_size)
        return data.windows(picked, model_cfg.history_len, model_cfg.window).to(device)

    def loss(net: TrajectoryDiffusion, batch: WindowBatch, generator: torch.Generator | None
             ) -> torch.Tensor:
        return net.loss(batch.history, batch.actions, batch.states, batch.rewards, batch.valid,
                        generator)

    def export(ema: TrajectoryDiffusion, training: dict) -> None:
        save_checkpoint(ema, termination, out_dir, env_id, dataset_info, training)

    denoiser_loop(train, model, state_file, rng, next_batch, loss, holdout, export, out_dir,
                  "trajectory")
    return out_dir
