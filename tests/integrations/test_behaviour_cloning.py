"""The main job's behaviour-cloned start: the policy fitted to a dataset's actions before PPO,
its log-std at the residual spread, the running map starting at the data's statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def medium_hopper_file(tmp_path_factory):
    """Real Hopper-v5 transitions of the shipped medium policy's mean action: a dataset whose
    actions a clone can fit."""
    from dreamenv.behaviour import behaviour_policy
    from dreamenv.datasets.dataset import OfflineDataset
    from dreamenv.datasets.hdf5 import save_hdf5
    from dreamenv.datasets.rollout import collect

    policy = behaviour_policy("hopper", "medium", deterministic=True)
    arrays = collect(policy, "Hopper-v5", 2000, seed=0, n_envs=4)
    path = tmp_path_factory.mktemp("bc") / "medium.hdf5"
    return save_hdf5(OfflineDataset(arrays, {"env_id": "Hopper-v5", "name": "bc-test"}), path)


def _config(**options):
    from dreamenv.integrations.imagine import ImagineConfig

    return ImagineConfig(**{"algo": "PPO", "iterations": 1, "num_envs": 4, "eval_episodes": 1,
                            "iteration_seconds": 0, "compare_episodes": 0,
                            "max_episode_steps": 30, "ppo_batch": 200, "ppo_minibatch": 100,
                            "ppo_epochs": 1, "ppo_log_std_init": -0.5, **options})


def test_imagine_starts_from_a_clone_of_the_data(local_ray, tmp_path, medium_hopper_file):
    from dreamenv.datasets.hdf5 import load_hdf5
    from dreamenv.integrations.imagine import run_imagine
    from dreamenv.integrations.rllib import OBSERVATION_NORM_FILE, RLlibPolicy

    run_imagine(_config(bc_dataset=str(medium_hopper_file), bc_epochs=300,
                        running_normalization=True, compare_episodes=1), tmp_path)
    clone = json.loads((tmp_path / "behaviour_cloning.json").read_text())
    assert clone["rows"] == 2000 and clone["epochs"] == 300
    assert clone["mse_after"] < clone["mse_before"] / 5
    assert np.isfinite(clone["real_return"])
    data = load_hdf5(medium_hopper_file)
    # the clone acts like the data: its saved policy, raw observations in, the data's actions out
    policy = RLlibPolicy.from_checkpoint(tmp_path / "bc_checkpoint")
    error = ((policy.act(data["observations"]) - data["actions"]) ** 2).mean()
    assert error == pytest.approx(clone["mse_after"], rel=0.05)
    # the exploration noise starts at the residual spread, per action dimension
    residual = np.sqrt(((policy.act(data["observations"]) - data["actions"]) ** 2).mean(0))
    np.testing.assert_allclose(np.exp(clone["log_std"]), residual, rtol=0.05)
    # the running map started at the data's statistics, counted as its rows
    norm = json.loads((tmp_path / "bc_checkpoint" / OBSERVATION_NORM_FILE).read_text())
    np.testing.assert_allclose(norm["mean"], data["observations"].mean(0), rtol=1e-4,
                               atol=1e-6)
    assert norm["count"] == 2000
    # and the final comparison has the clone beside the agent
    report = json.loads((tmp_path / "report.json").read_text())
    assert {"agent", "behaviour-clone", "medium"} <= set(report["comparison"]["policies"])
    assert report["config"]["bc_dataset"] == str(medium_hopper_file)


@pytest.mark.parametrize("options, message", [
    ({"algo": "SAC"}, "single-agent PPO"),
    ({"ppo_log_std_init": None}, "free log-std"),
    ({"agent_conf": "3x1"}, "single-agent PPO"),
    ({"bc_epochs": 0}, "--bc-epochs"),
])
def test_imagine_refuses_a_clone_it_cannot_start(tmp_path, options, message):
    from dreamenv.integrations.imagine import run_imagine

    with pytest.raises(ValueError, match=message):
        run_imagine(_config(bc_dataset="hopper-medium", **options), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_a_dataset_of_another_task_is_refused_before_training(local_ray, tmp_path,
                                                              medium_hopper_file):
    from dreamenv.integrations.imagine import run_imagine

    with pytest.raises(ValueError, match="Hopper-v5"):
        run_imagine(_config(task="walker2d", bc_dataset=str(medium_hopper_file)),
                    tmp_path / "run")
