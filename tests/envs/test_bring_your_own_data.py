"""Bring your own data: a D4RL-format file (or a local Minari dataset) of an env dreamenv has no
task module for becomes a model, and the model an env with the real env's spaces."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dreamenv  # noqa: F401  (registers DyDiff)
from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.cli import main
from dreamenv.datasets.dataset import DatasetError, OfflineDataset
from dreamenv.datasets.hdf5 import save_hdf5
from dreamenv.datasets.rollout import collect
from dreamenv.models import CheckpointError

ENV = "InvertedPendulum-v5"  # MuJoCo, terminates when the pole falls; no task module
SMALL = ["--diffusion-steps", "60", "--eval-every", "30", "--checkpoint-every", "60",
         "--batch-size", "32", "--threads", "1", "--diffusion-hidden", "32",
         "--diffusion-encoder-layers", "1", "--diffusion-denoiser-blocks", "1"]


def _random_data(env_id: str, steps: int) -> OfflineDataset:
    space = gym.make(env_id).action_space
    arrays = collect(RandomPolicy(space.low, space.high), env_id, steps, seed=0, n_envs=4)
    return OfflineDataset(arrays, {"name": f"{env_id}-random"})  # no env_id: the user's file


@pytest.fixture(scope="module")
def pendulum_model(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("byo")
    data = save_hdf5(_random_data(ENV, 1500), root / "pendulum.hdf5")
    assert main(["train", "--dataset", str(data), "--env-id", ENV, "--out",
                 str(root / "model"), *SMALL]) == 0
    return data, root / "model"


def test_a_file_without_env_id_needs_one_and_it_must_fit(pendulum_model, tmp_path, capsys):
    data, _ = pendulum_model
    assert main(["train", "--dataset", str(data), "--out", str(tmp_path / "m"), *SMALL]) == 2
    assert "--env-id" in capsys.readouterr().err
    assert main(["train", "--dataset", str(data), "--env-id", "Hopper-v5", "--out",
                 str(tmp_path / "m"), *SMALL]) == 2
    assert "observations have width 4, Hopper-v5 has 11" in capsys.readouterr().err


def test_the_checkpoint_becomes_the_real_envs_learned_twin(pendulum_model):
    _, model = pendulum_model
    env = gym.make("DyDiff", model=str(model))
    real = gym.make(ENV)
    assert env.observation_space == real.observation_space
    assert env.action_space == real.action_space
    assert env.spec.max_episode_steps == real.spec.max_episode_steps == 1000
    assert env.metadata["termination"].startswith("learned")
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=3)
    np.testing.assert_array_equal(obs, real.reset(seed=3)[0])
    assert info["termination"].startswith("learned") and "x_position" not in info
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert obs in env.observation_space and np.isfinite(reward)
    assert set(info) == {"uncertainty", "model_diverged"}

    vec = gym.make_vec("DyDiff", num_envs=3, model=str(model))
    assert vec.max_episode_steps == 1000 and vec.single_observation_space == real.observation_space
    obs, _ = vec.reset(seed=0)
    ended = np.zeros(3, dtype=bool)
    for _ in range(200):  # random actions drop the pole within a few dozen real steps
        obs, reward, terminated, truncated, _ = vec.step(vec.action_space.sample())
        ended |= terminated
    assert ended.any(), "the learned termination head never ended an episode"
    with pytest.raises(ValueError, match="InvertedPendulum-v5 has none: use the NumPy vector env"):
        gym.make_vec("DyDiff", num_envs=3, model=str(model), tensors=True)


def test_other_tasks_refuse_the_checkpoint_and_its_data(pendulum_model, hopper_random,
                                                        tmp_path, capsys):
    data, model = pendulum_model
    with pytest.raises(CheckpointError, match="model of 'InvertedPendulum-v5', not 'Hopper-v5'"):
        gym.make("DyDiff-Hopper", model=str(model))
    hopper_file = save_hdf5(hopper_random, tmp_path / "hopper.hdf5")
    with pytest.raises(DatasetError, match="dataset of 'Hopper-v5'"):
        gym.make("DyDiff", model=str(model), start="dataset", dataset=str(hopper_file))
    assert main(["train", "--dataset", str(hopper_file), "--env-id", "Walker2d-v5", "--out",
                 str(tmp_path / "m"), *SMALL]) == 2
    assert "dataset of 'Hopper-v5', not 'Walker2d-v5' (--env-id)" in capsys.readouterr().err
    with pytest.raises(ValueError, match="needs model=DIR"):
        gym.make("DyDiff")
    # A model object carries no learned head: a task without a rule must be given one.
    from dreamenv.models.checkpoint import load_checkpoint
    from dreamenv.tasks import Task, generic_task

    loaded = load_checkpoint(model)[0]
    with pytest.raises(ValueError, match="needs a termination rule: pass task=Task"):
        gym.make("DyDiff", task=generic_task(ENV), model=loaded)
    ruled = Task(name="pole", env_id=ENV, terminated=lambda obs: np.abs(obs[:, 1]) > 0.2)
    env = gym.make("DyDiff", task=ruled, model=loaded)
    assert env.reset(seed=0)[0] in env.observation_space
    with pytest.raises(ValueError, match="cannot pose the real InvertedPendulum-v5"):
        gym.make("DyDiff", model=str(model), render_mode="rgb_array")


def test_a_local_minari_dataset_of_a_classic_control_env_trains_an_env(tmp_path, capsys):
    from dreamenv.datasets.minari import export_minari

    data = _random_data("Pendulum-v1", 400)  # not MuJoCo; never terminates; 200-step limit
    export_minari(data, "test/pendulum-random-v0", env_id="Pendulum-v1")
    model = tmp_path / "ensemble"
    assert main(["train", "--model", "ensemble", "--dataset", "test/pendulum-random-v0",
                 "--out", str(model), "--threads", "1", "--ensemble-max-epochs", "1",
                 "--ensemble-members", "3", "--ensemble-elites", "2",
                 "--ensemble-hidden", "16"]) == 0
    env = gym.make("DyDiff", model=str(model))
    assert env.spec.max_episode_steps == 200
    check_env(env.unwrapped, skip_render_check=True)
    real = gym.make("Pendulum-v1")
    np.testing.assert_array_equal(env.reset(seed=5)[0], real.reset(seed=5)[0])
    # Pendulum's observation space is bounded (cos, sin in [-1, 1], speed in [-8, 8]): a
    # one-epoch model predicts outside it, the env clips, as the real env never leaves it.
    assert env.metadata["render_modes"] == []  # no body layout to pose
    vec = gym.make_vec("DyDiff", num_envs=8, model=str(model))
    vec.reset(seed=0)
    for _ in range(50):
        obs, *_ = vec.step(vec.action_space.sample())
        assert obs in vec.observation_space
    with pytest.raises(ValueError, match="outside the observation space"):
        env.reset(options={"initial_obs": np.array([2.0, 0.0, 0.0], dtype=np.float32)})
    # A recipe for another task is refused before it is made (hopper-expert takes minutes).
    assert main(["train", "--dataset", "hopper-expert", "--env-id", "Pendulum-v1",
                 "--out", str(tmp_path / "x")]) == 2
    assert "a Hopper-v5 dataset, not 'Pendulum-v1'" in capsys.readouterr().err


def test_start_dataset_of_other_widths_is_refused(pendulum_model, tmp_path):
    """A file without env_id metadata but of another env's widths cannot seed the env's starts."""
    _, model = pendulum_model
    other = save_hdf5(_random_data("Pendulum-v1", 100), tmp_path / "pendulum.hdf5")  # no env_id
    with pytest.raises(DatasetError, match=r"widths \(3, 1\), the model has \(4, 1\)"):
        gym.make("DyDiff", model=str(model), start="dataset", dataset=str(other))


def test_compare_and_policies_for_a_task_without_a_module(pendulum_model):
    """Seed-matched learned-vs-real returns work for any env (no normalised score: no D4RL
    reference returns); only the random policy exists for it, the others are one-line errors."""
    from dreamenv.behaviour import behaviour_policy
    from dreamenv.evaluation.compare import compare_policies

    _, model = pendulum_model
    random = behaviour_policy(ENV, "random")
    report = compare_policies({"random": random}, episodes=2, max_steps=30, task=ENV,
                              model=str(model))
    row = report["policies"]["random"]
    assert report["env_id"] == ENV and "normalized_score_real" not in row
    assert np.isfinite(row["real_return"]) and np.isfinite(row["learned_return"])
    with pytest.raises(ValueError, match="behaviour policies ship for hopper"):
        behaviour_policy(ENV, "medium")
    # A known task's env id is that task: its shipped policy, not a refusal.
    assert behaviour_policy("Hopper-v5", "medium").metadata
