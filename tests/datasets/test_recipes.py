"""Named datasets: made by one call, cached, deterministic per seed, described by metadata."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dreamenv.behaviour.sac import SACConfig, run_file, train_sac
from dreamenv.datasets.dataset import DatasetError
from dreamenv.datasets.hdf5 import load_hdf5
from dreamenv.datasets.recipes import RECIPES, dataset_path, make_dataset


def test_make_caches_and_is_deterministic(isolated_data_dir):
    path = make_dataset("hopper-random", steps=300)
    assert path == isolated_data_dir / "datasets" / "hopper-random-300steps.hdf5"
    first = load_hdf5(path)
    mtime = os.stat(path).st_mtime_ns
    assert make_dataset("hopper-random", steps=300) == path  # cached: not rebuilt
    assert os.stat(path).st_mtime_ns == mtime
    rebuilt = load_hdf5(make_dataset("hopper-random", steps=300, force=True))
    for key in first.arrays:
        np.testing.assert_array_equal(first.arrays[key], rebuilt.arrays[key])
    other = load_hdf5(make_dataset("hopper-random", steps=300, seed=5))
    assert not np.array_equal(first["actions"], other["actions"])


def test_metadata_says_where_the_data_came_from():
    meta = load_hdf5(make_dataset("hopper-random", steps=300)).metadata
    assert meta["name"] == "hopper-random" and meta["env_id"] == "Hopper-v5"
    assert meta["env_version"] == "v5" and meta["seed"] == RECIPES["hopper-random"].seed
    assert {"gymnasium", "mujoco", "numpy", "torch", "h5py"} <= set(meta["libraries"])
    assert meta["summary"]["transitions"] == 300


def test_damaged_cache_entry_is_rebuilt():
    path = make_dataset("hopper-random", steps=300)
    path.write_bytes(path.read_bytes()[:1000])
    assert len(load_hdf5(make_dataset("hopper-random", steps=300))) == 300


def test_interrupted_generation_leaves_nothing(monkeypatch):
    import h5py

    def crash(*args, **kwargs):  # dies after the arrays are written, before metadata
        raise KeyboardInterrupt

    monkeypatch.setattr(h5py.Group, "create_group", crash)
    with pytest.raises(KeyboardInterrupt):
        make_dataset("hopper-random", steps=300)
    path = dataset_path("hopper-random", 300)
    assert path.parent.is_dir() and not list(path.parent.glob("*"))


def test_bad_steps_are_refused():
    with pytest.raises(DatasetError, match="at least 2"):
        make_dataset("hopper-medium-expert", steps=1)
    with pytest.raises(DatasetError, match="at least 1"):
        make_dataset("hopper-random", steps=0)


def test_unknown_name():
    with pytest.raises(DatasetError, match="unknown dataset 'hopper-legendary'"):
        make_dataset("hopper-legendary")


def test_full_replay_is_the_sac_buffer(tmp_path):
    cfg = SACConfig(total_steps=400, learning_starts=200, eval_every=400, checkpoint_every=400,
                    batch_size=16, hidden=16, eval_episodes=1)
    train_sac(cfg, tmp_path / "run")
    dataset = load_hdf5(make_dataset("hopper-full-replay", sac_run=tmp_path / "run"))
    assert len(dataset) == 400
    with np.load(run_file(tmp_path / "run", "buffer_file")) as buffer:
        for key in buffer.files:
            np.testing.assert_array_equal(dataset[key.replace("__", "/")][:-1],
                                          buffer[key][:-1])
    assert dataset["terminals"][-1] or dataset["timeouts"][-1]
    assert dataset.metadata["source"] == "replay"


def test_union_is_every_set_in_order(tmp_path):
    cfg = SACConfig(total_steps=400, learning_starts=200, eval_every=400, checkpoint_every=400,
                    batch_size=16, hidden=16, eval_episodes=1)
    train_sac(cfg, tmp_path / "run")
    union = load_hdf5(make_dataset("hopper-union", steps=40, sac_run=tmp_path / "run"))
    assert len(union) == 40
    assert union.metadata["policy"]["parts"] == [
        "hopper-random", "hopper-medium", "hopper-expert", "hopper-full-replay"]
    replay = load_hdf5(make_dataset("hopper-full-replay", 10, sac_run=tmp_path / "run"))
    np.testing.assert_array_equal(union["observations"][30:], replay["observations"])


def test_medium_expert_is_medium_then_expert():
    mixed = load_hdf5(make_dataset("hopper-medium-expert", steps=400))
    medium = load_hdf5(make_dataset("hopper-medium", steps=200))
    expert = load_hdf5(make_dataset("hopper-expert", steps=200))
    assert len(mixed) == 400
    np.testing.assert_array_equal(mixed["observations"][:200], medium["observations"])
    np.testing.assert_array_equal(mixed["observations"][200:], expert["observations"])
    assert mixed.metadata["policy"]["parts"] == ["hopper-medium", "hopper-expert"]


@pytest.mark.parametrize("task", ["hopper", "walker2d", "halfcheetah"])
def test_shipped_policies_are_graded_like_d4rl(task):
    """Every task's medium policy's recorded return is a third to a half of its expert's, from
    an earlier step of the same run, and that run is the task's behaviour run."""
    from dreamenv.behaviour import behaviour_policy
    from dreamenv.tasks import TASKS

    expert = behaviour_policy(task, "expert").metadata
    medium = behaviour_policy(task, "medium").metadata
    assert 1 / 3 <= medium["return_mean"] / expert["return_mean"] <= 1 / 2
    assert medium["step"] < expert["step"] and medium["seed"] == expert["seed"]
    assert expert["sac_config"]["total_steps"] == TASKS[task].behaviour_steps


def test_medium_replay_needs_the_run_up_to_the_medium_snapshot(tmp_path):
    cfg = SACConfig(total_steps=300, learning_starts=100, eval_every=300, checkpoint_every=300,
                    batch_size=16, hidden=16, eval_episodes=1)
    train_sac(cfg, tmp_path / "run")
    with pytest.raises(DatasetError, match="medium snapshot is at step"):
        make_dataset("hopper-medium-replay", sac_run=tmp_path / "run")
