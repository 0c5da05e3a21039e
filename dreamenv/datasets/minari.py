"""Export an :class:`OfflineDataset` to a local Minari dataset and import one back.

Mapping, one dreamenv episode of ``T`` rows <-> one Minari episode of ``T`` steps:

- ``observations`` ``(T+1, S)``: the episode's observations followed by its last next_observation.
- ``actions``, ``rewards`` as they are; ``terminations`` <- ``terminals``, ``truncations`` <-
  ``timeouts``. An unfinished last episode (neither flag on its last row) is exported truncated,
  as D4RL marks data cut mid-episode, so it imports back with ``timeouts[-1]`` set.
- ``infos/qpos``, ``infos/qvel`` -> episode infos ``qpos``/``qvel``, ``T+1`` rows aligned with the
  observations as Minari's collector stores infos; the final row is NaN (dreamenv has no simulator
  state for the last observation) and is dropped again on import.
- dreamenv ``metadata`` -> a JSON string under the Minari metadata key ``dreamenv_metadata``.

Data go to Minari's HDF5 format (arrow/parquet need pyarrow), which keeps dtypes as given; the
recorded observation space is the env's Box recast to float32 so it matches the stored data.
Datasets live under ``$MINARI_DATASETS_PATH`` (default ``~/.minari/datasets``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import gymnasium as gym
import minari  # the optional extra dreamenv[minari]
import numpy as np
from minari.data_collector import EpisodeBuffer
from minari.dataset.minari_dataset import parse_dataset_id
from minari.storage.datasets_root_dir import get_dataset_path

from dreamenv.datasets.dataset import DatasetError, OfflineDataset

METADATA_KEY = "dreamenv_metadata"
_DTYPES = {"terminals": bool, "timeouts": bool, "infos/qpos": np.float64, "infos/qvel": np.float64}


def export_minari(dataset: OfflineDataset, dataset_id: str, env_id: str | None = None,
                  author: str = "dreamenv", description: str | None = None,
                  overwrite: bool = False) -> str:
    """Write ``dataset`` as the local Minari dataset ``dataset_id`` (``(namespace/)name-vN``).

    Args:
        dataset: the transitions to export.
        dataset_id: Minari id; Minari requires the ``-vN`` version suffix.
        env_id: Gymnasium id recorded as the env spec; defaults to ``metadata["env_id"]``.
        author: Minari author.
        description: Minari description; by default one naming the env.
        overwrite: replace an existing dataset with the same id instead of refusing.

    Returns:
        ``dataset_id``.

    Raises:
        DatasetError: malformed id, existing id without ``overwrite``, no or unknown env, or
            env spaces that do not match the arrays (checked before anything is deleted).
    """
    where = f"minari dataset {dataset_id!r}"
    try:
        parse_dataset_id(dataset_id)
    except (ValueError, TypeError):  # Minari raises TypeError for an id without "-vN"
        raise DatasetError(f"{where}: malformed id, expected '(namespace/)name-vN'") from None
    env_id = env_id or dataset.metadata.get("env_id")
    if not env_id:
        raise DatasetError(f"{where}: no env_id given and none in the dataset metadata")
    try:
        env = gym.make(env_id)
    except gym.error.Error as e:
        raise DatasetError(f"{where}: cannot make env {env_id!r} ({e})") from None
    path = get_dataset_path(dataset_id)
    try:
        obs_space = _check_spaces(env, dataset, where)
        if path.exists() and not overwrite:
            raise DatasetError(f"{where}: already exists at {path} (pass overwrite=True)")
        # Written whole under a hidden staging root, then swapped in by renames: an interrupted
        # export leaves the previous dataset (or none), never half of one.
        staging = Path(tempfile.mkdtemp(prefix=".dreamenv-export-", dir=get_dataset_path()))
        try:
            with _datasets_root(staging), warnings.catch_warnings():
                # Minari nags about every optional field left unset (email, permalink, ...).
                warnings.filterwarnings("ignore", ".*is set to None", UserWarning)
                created = minari.create_dataset_from_buffers(
                    dataset_id, _buffers(dataset), env=env, observation_space=obs_space,
                    author=author, data_format="hdf5",
                    description=description or f"dreamenv offline dataset for {env_id}")
                meta = json.dumps(dataset.metadata, default=lambda v: v.tolist()
                                  if isinstance(v, (np.ndarray, np.generic)) else str(v))
                created.storage.update_metadata({METADATA_KEY: meta})
            path.parent.mkdir(parents=True, exist_ok=True)
            previous = staging / "previous"
            if path.exists():
                path.rename(previous)
            (staging / dataset_id).rename(path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    finally:
        env.close()
    return dataset_id


@contextlib.contextmanager
def _datasets_root(root: Path):
    """Point Minari's dataset root (``MINARI_DATASETS_PATH``) at ``root`` for a while."""
    before = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if before is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = before


def import_minari(dataset_id: str) -> OfflineDataset:
    """Load the local Minari dataset ``dataset_id`` (never downloads) as flat D4RL arrays.

    Raises:
        DatasetError: one line naming the id and where it looked, when it is missing, unreadable
            or not of flat Box observations/actions.
    """
    where = f"minari dataset {dataset_id!r}"
    try:
        ds = minari.load_dataset(dataset_id, download=False)
    except FileNotFoundError:
        raise DatasetError(f"{where}: not found under {get_dataset_path()}") from None
    except (ValueError, KeyError, OSError) as e:
        raise DatasetError(f"{where}: unreadable ({e})") from None
    parts: dict[str, list[np.ndarray]] = {}
    for ep in ds.iterate_episodes():
        obs, n = ep.observations, len(ep.rewards)
        if not isinstance(obs, np.ndarray) or obs.ndim != 2 or len(obs) != n + 1 or n == 0:
            raise DatasetError(f"{where}: episode {ep.id} observations are not (T+1, S), T > 0")
        # Without a final flag the next episode would merge into this one.
        timeouts = np.array(ep.truncations, bool)
        timeouts[-1] |= not ep.terminations[-1]
        rows = {"observations": obs[:-1], "next_observations": obs[1:], "actions": ep.actions,
                "rewards": ep.rewards, "terminals": ep.terminations, "timeouts": timeouts}
        rows.update({f"infos/{k}": v[:n] for k, v in (ep.infos or {}).items()
                     if k in ("qpos", "qvel") and isinstance(v, np.ndarray)})
        for key, value in rows.items():
            parts.setdefault(key, []).append(np.asarray(value))
    if not parts:
        raise DatasetError(f"{where}: has no episodes")
    arrays = {k: np.concatenate(v).astype(_DTYPES.get(k, np.float32)) for k, v in parts.items()}
    metadata = json.loads(ds.storage.metadata.get(METADATA_KEY, "{}"))
    if ds.env_spec is not None:
        metadata["env_id"] = ds.env_spec.id
    return OfflineDataset(arrays, metadata)


def _buffers(dataset: OfflineDataset) -> list[EpisodeBuffer]:
    a = dataset.arrays
    out = []
    for start, stop in dataset.episodes:
        timeouts = a["timeouts"][start:stop].copy()
        timeouts[-1] |= not a["terminals"][stop - 1]  # unfinished last episode -> truncated
        infos = {k.split("/")[1]: np.concatenate([a[k][start:stop],
                                                  np.full((1, a[k].shape[1]), np.nan)])
                 for k in ("infos/qpos", "infos/qvel") if k in a}
        out.append(EpisodeBuffer(
            observations=np.concatenate([a["observations"][start:stop],
                                         a["next_observations"][stop - 1:stop]]),
            actions=a["actions"][start:stop], rewards=a["rewards"][start:stop],
            terminations=a["terminals"][start:stop], truncations=timeouts,
            infos=infos or None))
    return out


def _check_spaces(env: gym.Env, dataset: OfflineDataset, where: str) -> gym.spaces.Box:
    """The env's observation Box recast to float32 (the stored dtype); raise on width mismatch."""
    for key, space in (("observations", env.observation_space), ("actions", env.action_space)):
        if not isinstance(space, gym.spaces.Box) or space.shape != dataset[key].shape[1:]:
            raise DatasetError(f"{where}: {key} have width {dataset[key].shape[1]} but"
                               f" {env.spec.id} has space {space}")
    space = env.observation_space
    return gym.spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32),
                          dtype=np.float32)
