"""Read and write D4RL-format HDF5 files.

Layout (D4RL's): top-level datasets ``observations``, ``actions``, ``next_observations``,
``rewards``, ``terminals``, ``timeouts`` and optionally ``infos/qpos``, ``infos/qvel``; other keys a
user's file carries are ignored. dreamenv adds a ``metadata`` group whose attributes record where the
data came from (env id and version, policy, seed, library versions); every value is stored as a
JSON string (D4RL-style plain strings and datasets in a user's file are read as well).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from dreamenv._atomic import atomic_path
from dreamenv.datasets.dataset import (
    OPTIONAL_KEYS,
    REQUIRED_KEYS,
    DatasetError,
    OfflineDataset,
    validate_arrays,
)


def save_hdf5(dataset: OfflineDataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` atomically (a crash leaves no file that loads as valid)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for key, value in dataset.arrays.items():
                f.create_dataset(key, data=value, compression="gzip", compression_opts=1,
                                 shuffle=True)
            group = f.create_group("metadata")
            for key, value in dataset.metadata.items():
                group.attrs[key] = json.dumps(value)  # strings too, so "123" stays a string
    return path


def load_hdf5(path: str | Path) -> OfflineDataset:
    """Load and validate a D4RL-format file (dreamenv's own or one a user brings).

    Raises:
        DatasetError: one line naming the file and the key at fault: missing file or key,
            truncated or corrupt file, shape mismatch, NaN/inf, empty dataset.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such dataset file")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        reason = str(e).split("(")[-1].rstrip(")") if "(" in str(e) else str(e)
        raise DatasetError(f"{path}: not a readable HDF5 file ({reason})") from None
    with f:
        arrays = {}
        for key in (*REQUIRED_KEYS, *OPTIONAL_KEYS):
            if key not in f:
                if key in REQUIRED_KEYS:
                    raise DatasetError(f"{path}: missing key {key!r}")
                continue
            if not isinstance(f[key], h5py.Dataset):
                raise DatasetError(f"{path}: key {key!r} is a group, expected an array")
            try:
                arrays[key] = f[key][()]
            except (OSError, RuntimeError) as e:
                raise DatasetError(f"{path}: key {key!r} cannot be read ({e})") from None
        metadata = _read_metadata(f)
    if any(k in arrays for k in OPTIONAL_KEYS) and not all(k in arrays for k in OPTIONAL_KEYS):
        raise DatasetError(f"{path}: has only one of 'infos/qpos' and 'infos/qvel'")
    validate_arrays(arrays, where=str(path))
    return OfflineDataset(_canonical_dtypes(arrays), metadata)


def _read_metadata(f: h5py.File) -> dict:
    group = f.get("metadata")
    if not isinstance(group, h5py.Group):
        return {}
    out: dict = {}
    items = list(group.attrs.items())
    # D4RL stores metadata as small datasets (``metadata/algorithm``), dreamenv as attributes.
    items += [(k, v[()]) for k, v in group.items() if isinstance(v, h5py.Dataset)]
    for key, value in items:
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def _canonical_dtypes(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for key, value in arrays.items():
        if key in ("terminals", "timeouts"):
            out[key] = value.astype(bool)
        elif key in OPTIONAL_KEYS:
            out[key] = value.astype(np.float64)
        else:
            out[key] = value.astype(np.float32)
    return out
