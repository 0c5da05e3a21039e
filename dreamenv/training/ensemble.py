"""Train the Gaussian ensemble the way MBPO trains it: to convergence on held-out loss.

Each epoch every member sees the training rows in its own random order; after each epoch the
held-out MSE of every member is measured, a member's weights are snapshotted when it improves by
more than 1%, and training stops once no member has improved for ``ensemble_patience`` epochs.
The best snapshot of each member is kept and the ``elites`` lowest held-out MSEs are the elites.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from dreamenv._progress import progress
from dreamenv.models.checkpoint import save_checkpoint
from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble
from dreamenv.models.normalizer import Normalizer, StateBounds
from dreamenv.models.termination import LearnedTermination
from dreamenv.training.common import ModelKind, RunState, TrainConfig, plot_log, run_config
from dreamenv.training.data import TransitionData

WEIGHT_DECAY = (2.5e-5, 5e-5, 7.5e-5, 7.5e-5, 1e-4)  # MBPO's per-layer L2, input to output
HOLDOUT_ROWS = 8192


def _arrays(model: GaussianEnsemble, data: TransitionData, rows: np.ndarray):
    batch = data.batch(rows, model.history_len)
    x = model.inputs(batch.history, batch.action)
    y = torch.cat([batch.next_state - batch.history.current, batch.reward[:, None]], -1)
    return x, y


def train_ensemble(train: TrainConfig, model_cfg: EnsembleConfig, data: TransitionData,
                   env_id: str, dataset_info: dict, out_dir: str | Path,
                   termination: LearnedTermination) -> Path:
    """Train (or resume) in ``out_dir``; the converged ensemble is saved there as a checkpoint."""
    out_dir = Path(out_dir)
    state_file = RunState(out_dir, run_config(train, ModelKind.ENSEMBLE, model_cfg))
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    obs_dim, act_dim = data.obs.shape[1], data.actions.shape[1]
    probe = GaussianEnsemble(model_cfg, obs_dim, act_dim)
    x_train, y_train = _arrays(probe, data, data.train_rows)
    holdout_rows = np.random.default_rng(123).choice(
        data.holdout_rows, min(HOLDOUT_ROWS, len(data.holdout_rows)), replace=False)
    x_hold, y_hold = _arrays(probe, data, holdout_rows)
    bounds = StateBounds.fit(np.concatenate([data.obs[data.train_rows],
                                             data.next_obs[data.train_rows]]))
    model = GaussianEnsemble(model_cfg, obs_dim, act_dim, Normalizer.fit(x_train.numpy()),
                             Normalizer.fit(y_train.numpy()), bounds)
    x_train, y_train = model.input_norm.normalize(x_train), model.target_norm.normalize(y_train)
    x_hold, y_hold = model.input_norm.normalize(x_hold), model.target_norm.normalize(y_hold)
    opt = torch.optim.Adam(model.parameters(), lr=train.ensemble_lr)
    members = model_cfg.members
    best = torch.full((members,), float("inf"))
    best_state = {k: v.clone() for k, v in model.state_dict().items()}
    epoch, since_update, log, elapsed_before = 0, 0, [], 0.0

    # 1. Resume after the last finished epoch.
    resumed = state_file.load()
    if resumed is not None:
        tensors, meta = resumed
        model.load_state_dict(tensors["model"])
        best_state = tensors["best_state"]
        best = tensors["best"]
        opt.load_state_dict(tensors["opt"])
        torch.set_rng_state(tensors["torch_rng"])
        rng.bit_generator.state = meta["numpy_rng"]
        epoch, since_update, log = meta["epoch"], meta["since_update"], meta["log"]
        elapsed_before = meta.get("elapsed_s", 0.0)

    n = len(x_train)
    start = time.time()
    bar = progress(total=train.ensemble_max_epochs, initial=epoch, desc="ensemble", unit="epoch")
    while epoch < train.ensemble_max_epochs and since_update <= train.ensemble_patience:
        # 2. One epoch: each member walks the training rows in its own order.
        order = np.stack([rng.permutation(n) for _ in range(members)])  # (E, n)
        for i in range(0, n, train.batch_size):
            idx = torch.as_tensor(order[:, i:i + train.batch_size])
            loss = model.loss(x_train[idx], y_train[idx])
            layers = [*model.layers, model.head]
            loss = loss + sum(wd * 0.5 * (layer.weight**2).sum()
                              for wd, layer in zip(WEIGHT_DECAY, layers))
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch += 1

        # 3. Held-out MSE per member; snapshot members that improved by more than 1%.
        with torch.no_grad():
            mean, _ = model(x_hold.expand(members, *x_hold.shape))
            mse = ((mean - y_hold) ** 2).mean(dim=(1, 2))
        improved = mse < 0.99 * best  # also true for the first epoch (best = inf)
        state = model.state_dict()
        for m in torch.nonzero(improved).flatten().tolist():
            best[m] = mse[m]
            for key, value in state.items():
                if value.dim() == 3 and value.shape[0] == members:  # per-member layer tensors
                    best_state[key][m] = value[m]
        since_update = 0 if improved.any() else since_update + 1
        log.append({"epoch": epoch, "train_loss": loss.item(),
                    "holdout_mse": float(mse.mean()), "best_holdout_mse": float(best.mean()),
                    "wall_s": round(elapsed_before + time.time() - start, 1)})
        bar.update(1)
        bar.set_postfix(holdout_mse=f"{float(mse.mean()):.4f}", stale=since_update)
        state_file.save({"model": model.state_dict(), "best_state": best_state, "best": best,
                         "opt": opt.state_dict(), "torch_rng": torch.get_rng_state()},
                        {"epoch": epoch, "since_update": since_update, "log": log,
                         "numpy_rng": rng.bit_generator.state,
                         "elapsed_s": elapsed_before + time.time() - start})
    bar.close()

    # 4. Keep each member's best snapshot; the elites are the lowest held-out MSEs.
    shared = {k for k, v in best_state.items() if not (v.dim() == 3 and v.shape[0] == members)}
    model.load_state_dict({k: (model.state_dict()[k] if k in shared else v)
                           for k, v in best_state.items()})
    model.elite_idx.copy_(torch.argsort(best)[:model_cfg.elites])
    save_checkpoint(model, termination, out_dir, env_id, dataset_info,
                    {"epochs": epoch, "holdout_mse": best.tolist(), "config": state_file.config,
                     "elapsed_s": round(elapsed_before + time.time() - start, 1)})
    plot_log(log, ("holdout_mse", "best_holdout_mse"), out_dir / "training.png", "epoch",
             "ensemble: held-out MSE (normalised targets)")
    return out_dir
