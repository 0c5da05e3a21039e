"""What both training loops share: the config, resumable state files, and the run log."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from dreamenv._atomic import atomic_path
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.hdf5 import load_hdf5
from dreamenv.tasks import TASKS


class ModelKind(enum.Enum):
    DIFFUSION = "diffusion"
    ENSEMBLE = "ensemble"
    TRAJECTORY = "trajectory"


@dataclass
class TrainConfig:
    """How a dynamics model is trained (model architecture lives in its own config)."""

    dataset: str = "hopper-full-replay"
    """Dataset name (made if missing), path to a D4RL-format HDF5 file, or the id of a local
    Minari dataset (needs the ``minari`` extra)."""
    env_id: str | None = None
    """The Gymnasium env the data comes from, for a file whose metadata does not say (it must
    agree with the metadata where both exist). Any env with flat Box spaces works; one without a
    task module gets the learned termination head."""
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
    teacher: str | None = None
    """A diffusion checkpoint to distil (step model only): besides the data's loss, the model
    learns to return what the teacher's denoiser returns along the teacher's sampling path
    (training/distill.py), so a smaller network can retrace a bigger one's sampler. Train on
    the teacher's dataset, with its history length and noise schedule."""
    teacher_weight: float = 1.0
    """Weight of the teacher's sampler-matching loss against the data's EDM loss."""
    device: str = "cpu"
    """Where the diffusion model trains: ``cpu``, ``cuda`` or ``cuda:N``. The run's identity
    excludes it (a run may resume on another device), but CUDA's random streams differ from
    the CPU's, so a run is bit-reproducible only on one device."""


def load_training_dataset(name_or_path: str, env_id: str | None = None
                          ) -> tuple[OfflineDataset, str]:
    """Load a dataset by name (making it first if needed), by path, or by local Minari id; also
    return its name. ``env_id`` names the env for data whose metadata does not; the data's
    widths must match that env's spaces where the env can be made here."""
    from dreamenv.datasets.recipes import RECIPES, make_dataset

    if name_or_path in RECIPES:
        recipe_env = TASKS[RECIPES[name_or_path].task].env_id
        if env_id and env_id != recipe_env:  # refused before hours of making the dataset
            raise ValueError(f"{name_or_path}: a {recipe_env} dataset, not {env_id!r} "
                             "(--env-id)")
        dataset, name = load_hdf5(make_dataset(name_or_path)), name_or_path
    elif Path(name_or_path).is_file() or not looks_like_minari_id(name_or_path):
        dataset = load_hdf5(name_or_path)
        name = str(dataset.metadata.get("name", Path(name_or_path).stem))
    else:
        try:
            from dreamenv.datasets.minari import import_minari
        except ModuleNotFoundError as e:
            raise ValueError(f"{name_or_path}: no such file, and reading it as a Minari id "
                             f"needs {e.name}: pip install 'dreamenv[minari]'") from None
        dataset, name = import_minari(name_or_path), name_or_path
    recorded = dataset.metadata.get("env_id")
    if env_id and recorded and env_id != recorded:
        raise ValueError(f"{name_or_path}: dataset of {recorded!r}, not {env_id!r} (--env-id)")
    env_id = env_id or recorded
    if not env_id:
        raise ValueError(f"{name_or_path}: dataset metadata has no env_id; say which env it "
                         "comes from with --env-id ID (or add metadata/env_id to the file)")
    dataset.metadata["env_id"] = env_id
    _check_widths(dataset, env_id, name_or_path)
    return dataset, name


def looks_like_minari_id(text: str) -> bool:
    """Minari ids are ``(namespace/)name-vN``; anything else is a file path."""
    return not text.endswith((".hdf5", ".h5")) and "-v" in text.rsplit("/", 1)[-1]


def _check_widths(dataset: OfflineDataset, env_id: str, where: str) -> None:
    """Observation and action widths against the env's spaces (skipped when the env cannot be
    made here: a checkpoint can still be trained, only the env needs the real one)."""
    import gymnasium as gym

    try:
        env = gym.make(env_id)
    except gym.error.Error:
        return
    try:
        for key, space in (("observations", env.observation_space),
                           ("actions", env.action_space)):
            if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
                raise ValueError(f"{env_id}: {key[:-1]} space {space} is not a flat Box; "
                                 "dreamenv learns envs with flat Box spaces")
            if dataset[key].shape[1:] != space.shape:
                raise ValueError(f"{where}: {key} have width {dataset[key].shape[1]}, "
                                 f"{env_id} has {space.shape[0]}")
    finally:
        env.close()


def dataset_source(name_or_path: str) -> str:
    """How to find the dataset again: its recipe name or Minari id, or its absolute path."""
    from dreamenv.datasets.recipes import RECIPES

    if name_or_path in RECIPES or (not Path(name_or_path).is_file()
                                   and looks_like_minari_id(name_or_path)):
        return name_or_path
    return str(Path(name_or_path).resolve())


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
    """The part of a run config that defines the run: the thread count and device do not, nor
    an ``env_id`` or ``teacher`` left unset, nor the default ``silu`` activation (runs from
    before those options existed resume)."""
    train = {k: v for k, v in config["train"].items() if k not in ("threads", "device")}
    for key in ("env_id", "teacher"):
        if train.get(key) is None:
            train.pop(key, None)
    if "teacher" not in train:
        train.pop("teacher_weight", None)  # means nothing without a teacher
    model = dict(config.get("model") or {})
    if model.get("activation") == "silu":
        model.pop("activation")
    return {**config, "train": train, "model": model}


def run_config(train: TrainConfig, kind: ModelKind, model_cfg: object) -> dict:
    return {"train": asdict(train), "kind": kind.value, "model": asdict(model_cfg)}


def plot_log(log: list[dict], keys: tuple[str, ...], path: Path, x: str, title: str,
             references: dict[str, float] | None = None, yscale: str = "log") -> None:
    """Training curves as a PNG (one line per key present in the log, through its finite
    values: a sparse key is still a line), with optional labelled horizontal reference lines
    (e.g. a random policy's return). ``yscale="symlog"`` shows negative values too."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key in keys:
        pts = [(r[x], r[key]) for r in log
               if r.get(key) is not None and math.isfinite(r[key])]
        if pts:
            ax.plot(*zip(*pts), label=key)
    for (label, value), style in zip((references or {}).items(), (":", "--", "-.")):
        if value > 0 or yscale != "log":
            ax.axhline(value, color="gray", linestyle=style, linewidth=1, label=label)
    ax.set_xlabel(x)
    if yscale == "symlog":  # linear within +-100 of zero, logarithmic beyond
        ax.set_yscale("symlog", linthresh=100.0)
    else:
        ax.set_yscale(yscale)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
