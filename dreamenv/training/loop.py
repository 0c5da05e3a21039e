"""The gradient loop both diffusion models train with: Adam with warm-up and cosine decay,
gradient clipping, EMA weights, a fixed held-out loss, resumable checkpoints.

A model plugs in with three callables: ``next_batch(step, ema)`` draws a training batch,
``loss(model, batch, generator)`` scores one, and ``export(ema, training)`` writes the loadable
checkpoint of the EMA weights. Everything else (the learning-rate schedule, EMA warm-up, RNG
states in the checkpoint, the log and its plot) is the same for the step and trajectory models.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dreamenv._progress import progress
from dreamenv.training.common import RunState, TrainConfig, plot_log


def device_of(name: str) -> torch.device:
    """``name`` as a torch device; a one-line error if it is not there."""
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine")
    return device


def denoiser_loop(train: TrainConfig, model: nn.Module, state_file: RunState,
                  rng: np.random.Generator, next_batch: Callable[[int, nn.Module], Any],
                  loss: Callable[[nn.Module, Any, torch.Generator | None], torch.Tensor],
                  holdout: Any, export: Callable[[nn.Module, dict], None], out_dir: Path,
                  name: str) -> None:
    """Train ``model`` (on its device) for ``train.diffusion_steps``, resuming from
    ``state_file``; ``rng`` is the numpy generator ``next_batch`` draws from."""
    device = next(model.parameters()).device
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

    warmup = max(1, min(1000, train.diffusion_steps // 10))
    start, done_before = time.time(), step
    bar = progress(total=train.diffusion_steps, initial=step, desc=name, unit="step")
    while step < train.diffusion_steps:
        # 2. One gradient step on a random batch.
        frac = step / train.diffusion_steps
        lr_scale = min(1.0, (step + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
        for group in opt.param_groups:
            group["lr"] = train.diffusion_lr * lr_scale
        batch_loss = loss(model, next_batch(step, ema), None)
        opt.zero_grad()
        batch_loss.backward()
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
                val = loss(ema, holdout, torch.Generator(device).manual_seed(0)).item()
            rate = (step - done_before) / max(time.time() - start, 1e-9)
            log.append({"step": step, "train_loss": batch_loss.item(), "holdout_loss": val,
                        "steps_per_s": round(rate, 1)})
            bar.set_postfix(loss=f"{batch_loss.item():.3f}", holdout=f"{val:.3f}")

        # 5. Resumable checkpoint (atomic), and a loadable model checkpoint of the EMA weights.
        if step % train.checkpoint_every == 0 or step == train.diffusion_steps:
            rng_states = {"torch_rng": torch.get_rng_state()}
            if device.type == "cuda":  # the training noise is drawn on the GPU
                rng_states["cuda_rng"] = torch.cuda.get_rng_state(device)
            elapsed = elapsed_before + time.time() - start
            state_file.save({"model": model.state_dict(), "ema": ema.state_dict(),
                             "opt": opt.state_dict(), **rng_states},
                            {"step": step, "log": log, "numpy_rng": rng.bit_generator.state,
                             "elapsed_s": elapsed})
            export(copy.deepcopy(ema).cpu(), {"step": step, "log": log[-1:],
                                              "config": state_file.config,
                                              "elapsed_s": round(elapsed, 1)})
    bar.close()
    plot_log(log, ("train_loss", "holdout_loss"), out_dir / "training.png", "step",
             f"{name} model: EDM loss")
