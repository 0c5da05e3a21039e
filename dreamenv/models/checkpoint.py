"""Model checkpoints: a directory with ``model.safetensors`` and ``config.json``. Never pickled.

``config.json`` holds the format version, model kind, task and env version, dimensions, the
model's config, normalisation statistics, the noise schedule, the training dataset (name and
fingerprint) and the SHA-256 of the weight file. Loading validates all of it and raises
:class:`CheckpointError`, one line naming the directory and the problem.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dreamenv._atomic import atomic_path
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics
from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble
from dreamenv.models.normalizer import Normalizer
from dreamenv.models.termination import LearnedTermination
from dreamenv.models.trajectory import TrajectoryConfig, TrajectoryDiffusion
from dreamenv.tasks import task_for_env

FORMAT = "dreamenv-model"
FORMAT_VERSION = 1
KINDS = {"diffusion": (DiffusionDynamics, DiffusionConfig),
         "ensemble": (GaussianEnsemble, EnsembleConfig),
         "trajectory": (TrajectoryDiffusion, TrajectoryConfig)}
TRAIN_HINT = "train one with `dreamenv train --dataset DATASET --out DIR`"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
"""Where the package's shipped models live, one directory each (``hopper``, ``walker2d-rme``)."""


class CheckpointError(ValueError):
    """A model checkpoint that cannot be used; one line naming the directory."""


def shipped_models() -> list[str]:
    """The names of the models the package ships (its ``pretrained`` directories)."""
    return sorted(p.name for p in PRETRAINED_DIR.iterdir() if (p / "config.json").is_file())


def model_dir(model: str | Path, context: str = "") -> Path:
    """``model`` as a checkpoint directory: the path itself where it exists or has more than one
    part (``runs/model``), otherwise the shipped model of that name (``walker2d-rme``). A name that
    is neither is refused in one line listing the shipped models (``context`` follows the
    name there, e.g. ``" in 'A+B'"``).

    Examples:
        >>> model_dir("walker2d-rme") == PRETRAINED_DIR / "walker2d-rme"
        True
    """
    path = Path(model)
    if path.exists() or len(path.parts) != 1:
        return path
    if (PRETRAINED_DIR / str(model) / "config.json").is_file():
        return PRETRAINED_DIR / str(model)
    raise CheckpointError(f"model {str(model)!r}{context}: no such checkpoint directory, nor a "
                          f"shipped model ({', '.join(shipped_models())})")


def _split_normalizers(module: torch.nn.Module) -> tuple[dict, dict]:
    """State dict without normaliser buffers, and those buffers as JSON-able lists."""
    weights, norms = {}, {}
    for key, value in module.state_dict().items():
        owner, _, leaf = key.rpartition(".")
        if owner.endswith(("norm", "bounds")) and leaf in ("mean", "std", "low", "high"):
            norms[key] = value.tolist()
        else:
            weights[key] = value.detach().contiguous().clone()
    return weights, norms


def save_checkpoint(model: DiffusionDynamics | GaussianEnsemble, termination: LearnedTermination,
                    out_dir: str | Path, env_id: str, dataset: dict,
                    training: dict | None = None) -> Path:
    """Write ``model`` (and its learned termination head) to ``out_dir`` atomically."""
    out_dir = Path(out_dir)
    weights, norms = _split_normalizers(model)
    term_weights, term_norms = _split_normalizers(termination)
    tensors = {**{f"model.{k}": v for k, v in weights.items()},
               **{f"termination.{k}": v for k, v in term_weights.items()}}
    with atomic_path(out_dir / "model.safetensors") as tmp:
        save_file(tensors, str(tmp))
        digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "kind": model.kind,
        "task": task_for_env(env_id, generic=True).name, "env_id": env_id,
        "state_dim": model.state_dim, "action_dim": model.action_dim,
        "model_config": model.config_dict(),
        "normalization": {"model": norms, "termination": term_norms},
        "schedule": vars(model.schedule) if hasattr(model, "schedule") else None,
        "dataset": dataset, "training": training or {},
        "weights_sha256": digest,
    }
    with atomic_path(out_dir / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=1))
    return out_dir


def read_config(path: str | Path) -> dict:
    """The validated ``config.json`` of the checkpoint directory ``path`` (format, version and
    kind checked; the weights not read); a shipped model's name reads its directory."""
    path = model_dir(path)
    config_file, weight_file = path / "config.json", path / "model.safetensors"
    if not config_file.is_file() or not weight_file.is_file():
        raise CheckpointError(f"{path}: not a model checkpoint (needs config.json and "
                              f"model.safetensors); {TRAIN_HINT}")
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{config_file}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"{config_file}: not a dreamenv model config")
    if config.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{config_file}: format version {config.get('format_version')}, "
                              f"this dreamenv reads version {FORMAT_VERSION}")
    if config.get("kind") not in KINDS:
        raise CheckpointError(f"{config_file}: unknown model kind {config.get('kind')!r}")
    return config


def load_checkpoint(path: str | Path, env_id: str | None = None
                    ) -> tuple[DiffusionDynamics | GaussianEnsemble, LearnedTermination, dict]:
    """Load a checkpoint directory (or a shipped model by name); ``env_id`` (if given) must
    match the one it was trained on.

    Returns:
        The model (in eval mode), its learned termination head, and the parsed config.
    """
    path = model_dir(path)
    config = read_config(path)
    weight_file = path / "model.safetensors"
    if env_id is not None and config.get("env_id") != env_id:
        raise CheckpointError(f"{path}: model of {config.get('env_id')!r}, not {env_id!r}; "
                              f"{TRAIN_HINT}")
    digest = hashlib.sha256(weight_file.read_bytes()).hexdigest()
    if digest != config.get("weights_sha256"):
        raise CheckpointError(f"{weight_file}: checksum does not match config.json "
                              "(corrupt or replaced file)")
    try:
        tensors = load_file(str(weight_file))
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{weight_file}: unreadable safetensors file ({e})") from None

    model_cls, cfg_cls = KINDS[config["kind"]]
    try:
        cfg = cfg_cls(**config["model_config"])
        model = model_cls(cfg, int(config["state_dim"]), int(config["action_dim"]))
        termination = LearnedTermination(int(config["state_dim"]))
        for prefix, module in (("model", model), ("termination", termination)):
            state = {k[len(prefix) + 1:]: v for k, v in tensors.items()
                     if k.startswith(prefix + ".")}
            for key, value in config["normalization"][prefix].items():
                state[key] = torch.tensor(value, dtype=torch.float32)
            module.load_state_dict(state, strict=True)
    except (TypeError, KeyError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not match config.json ({first})") from None
    model.eval()
    termination.eval()
    return model, termination, config


__all__ = ["CheckpointError", "Normalizer", "PRETRAINED_DIR", "load_checkpoint", "model_dir",
           "read_config", "save_checkpoint", "shipped_models"]
