"""Train the diffusion dynamics model: Adam + cosine decay, EMA weights, resumable checkpoints."""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path

import numpy as np
import torch

from dreamenv._progress import progress
from dreamenv.models.checkpoint import save_checkpoint
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics, fit_normalizers
from dreamenv.models.history import History
from dreamenv.models.termination import LearnedTermination
from dreamenv.training.common import ModelKind, RunState, TrainConfig, plot_log, run_config
from dreamenv.training.data import Batch, TransitionData, with_own_history

HOLDOUT_ROWS = 4096  # fixed held-out batch: a low-variance, comparable validation loss


def _concat(a: Batch, b: Batch) -> Batch:
    h = History(*(torch.cat([getattr(a.history, k), getattr(b.history, k)])
                  for k in ("states", "actions", "valid")))
    return Batch(h, *(torch.cat([getattr(a, k), getattr(b, k)])
                      for k in ("action", "next_state", "reward", "terminal")))


def _device(name: str) -> torch.device:
    """``name`` as a torch device; a one-line error if it is not there."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device


def train_diffusion(train: TrainConfig, model_cfg: DiffusionConfig, data: TransitionData,
                    env_id: str, dataset_info: dict, out_dir: str | Path,
                    termination: LearnedTermination) -> Path:
    """Train (or resume) in ``out_dir``; the final EMA model is saved there as a checkpoint."""
    out_dir = Path(out_dir)
    state_file = RunState(out_dir, run_config(train, ModelKind.DIFFUSION, model_cfg))
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    rows = data.train_rows
    norms = fit_normalizers(data.obs[rows], data.next_obs[rows], data.rewards[rows])
    obs_dim, act_dim = data.obs.shape[1], data.actions.shape[1]
    device = _device(train.device)
    if not 0.0 <= train.own_history_share <= 1.0:
        raise ValueError(f"own_history_share must be in [0, 1], got {train.own_history_share}")
    if train.own_history_share and device.type != "cpu":
        raise ValueError("own_history_share > 0 trains on the CPU only")
    model = DiffusionDynamics(model_cfg, obs_dim, act_dim, *norms).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=train.diffusion_lr)
    step, log, elapsed_before = 0, [], 0.0

    # 1. Resume: weights, EMA, optimiser, RNG states and the log.
    resumed = state_file.load()
    if resumed is not None:
        tensors, meta = resumed
        model.load_state_dict(tensors["model"])
        ema.load_state_dict(tensors["ema"])
        opt.load_state_dict(tensors["opt"])  # moves its state to the parameters' device
        torch.set_rng_state(tensors["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in tensors:
            torch.cuda.set_rng_state(tensors["cuda_rng"], device)
        rng.bit_generator.state = meta["numpy_rng"]
        step, log, elapsed_before = meta["step"], meta["log"], meta.get("elapsed_s", 0.0)

    holdout_rows = np.random.default_rng(123).choice(
        data.holdout_rows, min(HOLDOUT_ROWS, len(data.holdout_rows)), replace=False)
    holdout = data.batch(holdout_rows, model_cfg.history_len).to(device)
    warmup = max(1, min(1000, train.diffusion_steps // 10))
    start, done_before = time.time(), step
    bar = progress(total=train.diffusion_steps, initial=step, desc="diffusion", unit="step")
    while step < train.diffusion_steps:
        # 2. One gradient step on a random batch of training windows.
        frac = step / train.diffusion_steps
        lr_scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = train.diffusion_lr * lr_scale
        picked = rng.choice(rows, train.batch_size)
        own = int(round(train.own_history_share * train.batch_size))
        if own and step >= train.diffusion_steps // 2:
            # Training on the model's own rollouts: the first `own` rows get an imagined window.
            gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
            mixed = with_own_history(ema, data, picked[:own], model_cfg.history_len, gen)
            real = data.batch(picked[own:], model_cfg.history_len)
            batch = _concat(mixed, real)
        else:
            batch = data.batch(picked, model_cfg.history_len).to(device)
        loss = model.loss(batch.history, batch.action, batch.next_state, batch.reward)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        # 3. EMA of the weights, warmed up so early EMA weights are not stuck at the init.
        decay = min(train.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            for p_ema, p in zip(ema.parameters(), model.parameters()):
                p_ema.lerp_(p, 1 - decay)
        step += 1
        bar.update(1)

        # 4. Held-out loss of the EMA weights with fixed noise: comparable across evaluations.
        if step % train.eval_every == 0 or step == train.diffusion_steps:
            with torch.no_grad():
                val = ema.loss(holdout.history, holdout.action, holdout.next_state,
                               holdout.reward,
                               torch.Generator(device).manual_seed(0)).item()
            rate = (step - done_before) / max(time.time() - start, 1e-9)
            log.append({"step": step, "train_loss": loss.item(), "holdout_loss": val,
                        "steps_per_s": round(rate, 1)})
            bar.set_postfix(loss=f"{loss.item():.3f}", holdout=f"{val:.3f}")

        # 5. Resumable checkpoint (atomic), and a loadable model checkpoint of the EMA weights.
        if step % train.checkpoint_every == 0 or step == train.diffusion_steps:
            rng_states = {"torch_rng": torch.get_rng_state()}
            if device.type == "cuda":  # the training noise is drawn on the GPU
                rng_states["cuda_rng"] = torch.cuda.get_rng_state(device)
            state_file.save({"model": model.state_dict(), "ema": ema.state_dict(),
                             "opt": opt.state_dict(), **rng_states},
                            {"step": step, "log": log, "numpy_rng": rng.bit_generator.state,
                             "elapsed_s": elapsed_before + time.time() - start})
            save_checkpoint(copy.deepcopy(ema).cpu(), termination, out_dir, env_id, dataset_info,
                            {"step": step, "log": log[-1:], "config": state_file.config,
                             "elapsed_s": round(elapsed_before + time.time() - start, 1)})
    bar.close()
    plot_log(log, ("train_loss", "holdout_loss"), out_dir / "training.png", "step",
             "diffusion model: EDM loss")
    return out_dir
