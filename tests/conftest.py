"""Shared fixtures: an isolated data directory and one tiny real Hopper-v5 dataset."""

from __future__ import annotations

import os

os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; must precede MuJoCo's GL setup

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from dreamenv.behaviour.policy import RandomPolicy  # noqa: E402
from dreamenv.datasets.dataset import OfflineDataset  # noqa: E402
from dreamenv.datasets.rollout import collect  # noqa: E402


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


@pytest.fixture(scope="session")
def tiny_models(hopper_random, tmp_path_factory) -> dict:
    """A tiny trajectory model and a tiny ensemble trained briefly on ``hopper_random``, and the
    data file: ``{"trajectory": dir, "ensemble": dir, "data": path}``."""
    from dreamenv.datasets.hdf5 import save_hdf5
    from dreamenv.models.ensemble import EnsembleConfig
    from dreamenv.models.trajectory import TrajectoryConfig
    from dreamenv.training.common import ModelKind, TrainConfig
    from dreamenv.training.run import train_model

    root = tmp_path_factory.mktemp("tiny-models")
    data = save_hdf5(hopper_random, root / "data.hdf5")
    train = TrainConfig(dataset=str(data), diffusion_steps=40, eval_every=20,
                        checkpoint_every=20, batch_size=16, threads=1, holdout_fraction=0.2,
                        ensemble_max_epochs=2)
    trajectory = TrajectoryConfig(history_len=2, window=8, channels=16, blocks=2,
                                  context_hidden=32, context_layers=1, denoising_steps=2)
    ensemble = EnsembleConfig(members=3, elites=2, hidden=16, layers=2)
    return {"trajectory": train_model(ModelKind.TRAJECTORY, train, trajectory,
                                      root / "trajectory"),
            "ensemble": train_model(ModelKind.ENSEMBLE, train, ensemble, root / "ensemble"),
            "data": data}


@pytest.fixture(scope="session")
def tiny_task_models(tmp_path_factory) -> dict[str, str]:
    """A tiny diffusion model for Walker2d-v5 and for HalfCheetah-v5, each trained briefly on
    600 real random-action transitions: ``{env_id: checkpoint dir}``."""
    from dreamenv.datasets.hdf5 import save_hdf5
    from dreamenv.models.diffusion import DiffusionConfig
    from dreamenv.training.common import ModelKind, TrainConfig
    from dreamenv.training.run import train_model

    models = {}
    for env_id in ("Walker2d-v5", "HalfCheetah-v5"):
        root = tmp_path_factory.mktemp(env_id)
        space = gym.make(env_id).action_space
        # Short episodes: HalfCheetah's run to the time limit, and training holds some out.
        arrays = collect(RandomPolicy(space.low, space.high), env_id, 600, seed=0, n_envs=4,
                         make_env=lambda env_id=env_id: gym.make(env_id, max_episode_steps=100))
        data = save_hdf5(OfflineDataset(arrays, {"env_id": env_id, "name": "test"}),
                         root / "data.hdf5")
        train = TrainConfig(dataset=str(data), diffusion_steps=40, eval_every=20,
                            checkpoint_every=40, batch_size=16, threads=1)
        models[env_id] = str(train_model(
            ModelKind.DIFFUSION, train,
            DiffusionConfig(hidden=32, encoder_layers=1, denoiser_blocks=1), root / "model"))
    return models


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


class DivergingModel:
    """A Hopper-sized model that returns NaN (state, reward and uncertainty) from its third call
    on, as a broken checkpoint might."""

    history_len, state_dim, action_dim = 0, 11, 3

    def __init__(self):
        self.calls = 0

    def predict(self, history, action, generator=None):
        from dreamenv.models import Prediction

        self.calls += 1
        bad = torch.nan if self.calls > 2 else 0.0
        n = len(action)
        return Prediction(history.current + bad, torch.zeros(n) + bad, torch.zeros(n) + bad)


@pytest.fixture
def diverging_model() -> DivergingModel:
    return DivergingModel()
