"""What both training loops share: the config, resumable state files, and the run log."""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dreamenv._atomic import atomic_path
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.hdf5 import load_hdf5


class ModelKind(enum.Enum):
    DIFFUSION = "diffusion"
    ENSEMBLE = "ensemble"
    TRAJECTORY = "trajectory"


@dataclass
class TrainConfig:
    """How a dynamics model is trained (model architecture lives in its own config)."""

    dataset: str = "hopper-full-replay"
    """Dataset name (made if missing) or path to a D4RL-format HDF5 file."""
    seed: int = 0
    holdout_fraction: float = 0.1
    """Share of episodes held out for validation, early stopping and elite selection."""
    batch_size: int = 256
    diffusion_steps: int = 100_000
    """Gradient steps of the diffusion model."""
    diffusion_lr: float = 1e-3
    """Peak Adam learning rate (1000-step warm-up, cosine decay to a tenth); 1e-3 trained the
    dev model twice as far per step as 3e-4."""
    ema_decay: float = 0.999
    """EMA of the diffusion weights; the EMA weights are the ones saved for inference."""
    ensemble_lr: float = 1e-3
    ensemble_max_epochs: int = 400
    """Upper bound only: the ensemble stops early when the held-out loss stops improving."""
    ensemble_patience: int = 5
    """Epochs without a >1% held-out improvement of any member before stopping (MBPO: 5)."""
    eval_every: int = 2_000
    """Diffusion steps between held-out evaluations."""
    checkpoint_every: int = 5_000
    """Diffusion steps between resumable checkpoints (the ensemble checkpoints every epoch)."""
    threads: int = 2
    """torch CPU threads."""
    own_history_share: float = 0.0
    """Share of each diffusion batch, from half-way through training, whose history window is
    the EMA model's own rollout instead of the recorded one (the recorded next state stays the
    target): training on the model's own rollouts. 0 is off; CPU only."""
    device: str = "cpu"
    """Where the diffusion model trains: ``cpu``, ``cuda`` or ``cuda:N``. The run's identity
    excludes it (a run may resume on another device), but CUDA's random streams differ from
    the CPU's, so a run is bit-reproducible only on one device."""


def load_training_dataset(name_or_path: str) -> tuple[OfflineDataset, str]:
    """Load a dataset by name (making it first if needed) or by path; also return its name."""
    from dreamenv.datasets.recipes import RECIPES, make_dataset

    if name_or_path in RECIPES:
        return load_hdf5(make_dataset(name_or_path)), name_or_path
    dataset = load_hdf5(name_or_path)
    if not dataset.metadata.get("env_id"):
        raise ValueError(f"{name_or_path}: dataset metadata has no env_id; cannot tell which "
                         "task it is (add metadata/env_id to the file)")
    return dataset, str(dataset.metadata.get("name", Path(name_or_path).stem))


def dataset_source(name_or_path: str) -> str:
    """How to find the dataset again: its recipe name, or its absolute path."""
    from dreamenv.datasets.recipes import RECIPES

    return name_or_path if name_or_path in RECIPES else str(Path(name_or_path).resolve())


class RunState:
    """The resumable part of a training run in ``out_dir``: ``train_state.pt`` (tensors only,
    loaded with ``weights_only=True``) and ``train_state.json`` (counters, log, config)."""

    def __init__(self, out_dir: Path, config: dict):
        self.out_dir, self.config = out_dir, config
        self.tensor_file = out_dir / "train_state.pt"
        self.json_file = out_dir / "train_state.json"

    def load(self) -> tuple[dict, dict] | None:
        if not self.json_file.exists():
            return None
        meta = json.loads(self.json_file.read_text())
        if _identity(meta["config"]) != _identity(self.config):
            raise ValueError(f"{self.out_dir}: holds a run with another config; use a new --out")
        # On the CPU first: a run trained on a GPU resumes anywhere; load_state_dict moves the
        # tensors to the model's device.
        return torch.load(self.tensor_file, weights_only=True, map_location="cpu"), meta

    def save(self, tensors: dict, meta: dict) -> None:
        with atomic_path(self.tensor_file) as tmp:
            torch.save(tensors, tmp)
        with atomic_path(self.json_file) as tmp:
            tmp.write_text(json.dumps({**meta, "config": self.config}))


def _identity(config: dict) -> dict:
    """The part of a run config that defines the run: the thread count and device do not."""
    train = {k: v for k, v in config["train"].items() if k not in ("threads", "device")}
    return {**config, "train": train}


def run_config(train: TrainConfig, kind: ModelKind, model_cfg: object) -> dict:
    return {"train": asdict(train), "kind": kind.value, "model": asdict(model_cfg)}


def plot_log(log: list[dict], keys: tuple[str, ...], path: Path, x: str, title: str,
             references: dict[str, float] | None = None) -> None:
    """Training curves as a PNG (one line per key present in the log), with optional labelled
    horizontal reference lines (e.g. a random policy's return)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        pts = [(r[x], r[key]) for r in log if key in r]
        if pts:
            ax.plot(*zip(*pts), label=key)
    for (label, value), style in zip((references or {}).items(), (":", "--", "-.")):
        if value > 0:  # log scale
            ax.axhline(value, color="gray", linestyle=style, linewidth=1, label=label)
    ax.set_xlabel(x)
    ax.set_yscale("log")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
