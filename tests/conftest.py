"""Shared fixtures: an isolated data directory and one tiny real Hopper-v5 dataset."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.rollout import collect


# Tiny networks: one thread is fastest and keeps timings steady when other jobs share the CPU.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path, monkeypatch):
    """Every test writes its cache under its own $DREAMENV_DATA, never the user's home."""
    root = tmp_path / "dreamenv-data"
    monkeypatch.setenv("DREAMENV_DATA", str(root))
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root / "minari"))
    return root


@pytest.fixture(scope="session")
def hopper_random() -> OfflineDataset:
    """600 real Hopper-v5 transitions of uniform random actions (several short episodes)."""
    space = gym.make("Hopper-v5").action_space
    arrays = collect(RandomPolicy(space.low, space.high), "Hopper-v5", 600, seed=0, n_envs=4)
    return OfflineDataset(arrays, {"env_id": "Hopper-v5", "name": "test-random"})


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
