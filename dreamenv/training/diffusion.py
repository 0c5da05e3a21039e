"""Train the diffusion dynamics model (the step model) with the shared denoiser loop, on the data
alone or also against a teacher model's sampler (``TrainConfig.teacher``, training/distill.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dreamenv.models.checkpoint import save_checkpoint
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics, fit_normalizers
from dreamenv.models.history import History
from dreamenv.models.termination import LearnedTermination
from dreamenv.training.common import ModelKind, RunState, TrainConfig, run_config
from dreamenv.training.data import Batch, TransitionData, with_own_history
from dreamenv.training.distill import SamplerMatch
from dreamenv.training.loop import denoiser_loop, device_of

HOLDOUT_ROWS = 4096  # fixed held-out batch: a low-variance, comparable validation loss


def _concat(a: Batch, b: Batch) -> Batch:
    h = History(*(torch.cat([getattr(a.history, k), getattr(b.history, k)])
                  for k in ("states", "actions", "valid")))
    return Batch(h, *(torch.cat([getattr(a, k), getattr(b, k)])
                      for k in ("action", "next_state", "reward", "terminal")))


def train_diffusion(train: TrainConfig, model_cfg: DiffusionConfig, data: TransitionData,
                    env_id: str, dataset_info: dict, out_dir: str | Path,
                    termination: LearnedTermination) -> Path:
    """Train (or resume) in ``out_dir``; the final EMA model is saved there as a checkpoint."""
    out_dir = Path(out_dir)
    state_file = RunState(out_dir, run_config(train, ModelKind.DIFFUSION, model_cfg))
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    rows = data.train_rows
    obs_dim, act_dim = data.obs.shape[1], data.actions.shape[1]
    device = device_of(train.device)
    teacher = (SamplerMatch.from_checkpoint(train.teacher, data.fingerprint, model_cfg, device)
               if train.teacher else None)
    norms = (teacher.normalizers() if teacher else
             fit_normalizers(data.obs[rows], data.next_obs[rows], data.rewards[rows]))
    if not 0.0 <= train.own_history_share <= 1.0:
        raise ValueError(f"own_history_share must be in [0, 1], got {train.own_history_share}")
    if train.own_history_share and device.type != "cpu":
        raise ValueError("own_history_share > 0 trains on the CPU only")
    model = DiffusionDynamics(model_cfg, obs_dim, act_dim, *norms).to(device)
    holdout_rows = np.random.default_rng(123).choice(
        data.holdout_rows, min(HOLDOUT_ROWS, len(data.holdout_rows)), replace=False)
    holdout = data.batch(holdout_rows, model_cfg.history_len).to(device)

    def next_batch(step: int, ema: DiffusionDynamics) -> Batch:
        picked = rng.choice(rows, train.batch_size)
        own = int(round(train.own_history_share * train.batch_size))
        if own and step >= train.diffusion_steps // 2:
            # Training on the model's own rollouts: the first `own` rows get an imagined window.
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            mixed = with_own_history(ema, data, picked[:own], model_cfg.history_len, gen)
            return _concat(mixed, data.batch(picked[own:], model_cfg.history_len))
        return data.batch(picked, model_cfg.history_len).to(device)

    def loss(net: DiffusionDynamics, batch: Batch, generator: torch.Generator | None
             ) -> torch.Tensor:
        data_loss = net.loss(batch.history, batch.action, batch.next_state, batch.reward,
                             generator)
        if teacher is None:
            return data_loss
        return data_loss + train.teacher_weight * teacher.loss(net, batch, generator)

    def export(ema: DiffusionDynamics, training: dict) -> None:
        save_checkpoint(ema, termination, out_dir, env_id, dataset_info, training)

    denoiser_loop(train, model, state_file, rng, next_batch, loss, holdout, export, out_dir,
                  "diffusion")
    return out_dir
