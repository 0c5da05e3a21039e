"""Minari export/import: exact round trip of a real Hopper-v5 dataset, and the one-line errors."""

from __future__ import annotations

import gymnasium as gym
import minari
import numpy as np
import pytest

from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.datasets.dataset import DatasetError, OfflineDataset
from dreamenv.datasets.minari import export_minari, import_minari
from dreamenv.datasets.rollout import collect

DATASET_ID = "dreamenv/hopper-random-v0"


@pytest.fixture(autouse=True)
def minari_root(tmp_path, monkeypatch):
    root = tmp_path / "minari-datasets"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


@pytest.fixture(scope="module")
def hopper() -> OfflineDataset:
    space = gym.make("Hopper-v5").action_space
    arrays = collect(RandomPolicy(space.low, space.high), "Hopper-v5", 1500, seed=1, n_envs=4)
    return OfflineDataset(arrays, {"env_id": "Hopper-v5", "policy": "random", "seed": 1})


def _slice(ds: OfflineDataset, stop: int) -> OfflineDataset:
    return OfflineDataset({k: v[:stop].copy() for k, v in ds.arrays.items()}, ds.metadata)


def _assert_same(loaded: OfflineDataset, original: OfflineDataset) -> None:
    assert set(loaded.arrays) == set(original.arrays)
    for key, value in original.arrays.items():
        assert loaded.arrays[key].dtype == value.dtype, key
        np.testing.assert_array_equal(loaded.arrays[key], value, err_msg=key)
    np.testing.assert_array_equal(loaded.episodes, original.episodes)


def test_round_trip_is_exact(hopper, minari_root):
    assert len(hopper.episodes) > 5
    assert export_minari(hopper, DATASET_ID) == DATASET_ID
    assert (minari_root / DATASET_ID / "data").is_dir()
    loaded = import_minari(DATASET_ID)
    _assert_same(loaded, hopper)
    assert loaded.metadata == hopper.metadata

    # What plain Minari users see: one episode per dreamenv episode, float32 data and space.
    ds = minari.load_dataset(DATASET_ID)
    assert ds.total_episodes == len(hopper.episodes) and ds.total_steps == len(hopper)
    assert ds.env_spec.id == "Hopper-v5" and ds.observation_space.dtype == np.float32
    ep = ds[0]
    start, stop = hopper.episodes[0]
    assert ep.observations.shape == (stop - start + 1, 11)
    assert ep.infos["qpos"].shape == (stop - start + 1, 6)
    assert np.isnan(ep.infos["qpos"][-1]).all()


def test_existing_id_refused_unless_overwrite(hopper):
    export_minari(_slice(hopper, 300), DATASET_ID)
    with pytest.raises(DatasetError, match="already exists"):
        export_minari(hopper, DATASET_ID)
    assert len(import_minari(DATASET_ID)) == 300
    export_minari(hopper, DATASET_ID, overwrite=True)
    _assert_same(import_minari(DATASET_ID), hopper)


def test_unfinished_last_episode_comes_back_truncated(hopper):
    start, stop = hopper.episodes[-2]
    cut = _slice(hopper, start + (stop - start) // 2)
    assert not (cut["terminals"][-1] or cut["timeouts"][-1])
    export_minari(cut, "unfinished-v0")
    loaded = import_minari("unfinished-v0")
    assert loaded["timeouts"][-1] and not loaded["terminals"][-1]
    loaded.arrays["timeouts"][-1] = False
    _assert_same(loaded, cut)


def test_missing_id_is_one_line_error(minari_root):
    with pytest.raises(DatasetError) as excinfo:
        import_minari("nope/missing-v0")
    message = str(excinfo.value)
    assert "\n" not in message and "nope/missing-v0" in message and str(minari_root) in message


def test_malformed_id_leaves_nothing(hopper, minari_root):
    with pytest.raises(DatasetError, match="malformed id"):
        export_minari(_slice(hopper, 50), "no-version")
    assert not (minari_root / "no-version").exists()


def test_interrupted_overwrite_keeps_the_previous_dataset(hopper, minari_root, monkeypatch):
    export_minari(_slice(hopper, 300), DATASET_ID)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # as if the export died half-way through writing

    monkeypatch.setattr(minari, "create_dataset_from_buffers", killed)
    with pytest.raises(KeyboardInterrupt):
        export_minari(hopper, DATASET_ID, overwrite=True)
    assert len(import_minari(DATASET_ID)) == 300  # the old one, whole
    assert [p.name for p in minari_root.iterdir()] == ["dreamenv"]  # no staging left behind
