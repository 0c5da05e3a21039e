"""DyDiff-Hopper behaves like Hopper-v5 to Gymnasium: registration, spaces, seeding, checker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dreamenv  # noqa: F401
from dreamenv.datasets.hdf5 import save_hdf5
from dreamenv.models import CheckpointError, pretrained_path


def _rollout(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    out = [obs]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(a)
        out.append(np.append(obs, reward))
        if terminated or truncated:
            break
    return out


def test_make_loads_the_shipped_model_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        env = gym.make("DyDiff-Hopper")
        env.reset(seed=0)
        env.step(env.action_space.sample())
    assert env.spec.max_episode_steps == 1000


def test_make_with_module_prefix_imports_dreamenv_itself():
    code = ("import gymnasium as gym; e = gym.make('dreamenv:DyDiff-Hopper'); "
            "o, _ = e.reset(seed=0); print(o.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "(11,)"


def test_spaces_and_reset_match_hopper_v5():
    env, real = gym.make("DyDiff-Hopper"), gym.make("Hopper-v5")
    assert env.observation_space == real.observation_space
    assert env.action_space == real.action_space
    for seed in (0, 1, 123):
        obs, info = env.reset(seed=seed)
        real_obs, real_info = real.reset(seed=seed)
        assert obs.dtype == np.float64 and np.array_equal(obs, real_obs)
        assert info["x_position"] == real_info["x_position"]


def test_step_contract_and_info():
    env = gym.make("DyDiff-Hopper")
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.zeros(3, dtype=np.float32))
    assert env.observation_space.contains(obs)
    assert type(reward) is float and type(terminated) is bool and type(truncated) is bool
    assert {"x_position", "x_velocity", "z_distance_from_origin", "uncertainty",
            "model_diverged"} <= set(info)
    assert info["x_velocity"] == obs[5] and info["uncertainty"] >= 0


def test_check_env_warns_only_as_it_warns_for_hopper_v5():
    """The checker's only remarks on DyDiff-Hopper are the ones it makes on Hopper-v5 itself
    (its unbounded observation Box); determinism passes without declaring nondeterminism."""
    def remarks(env, **kwargs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped, **kwargs)
        return sorted({str(w.message) for w in caught})

    # Hopper-v5 declares a "human" render mode that needs a display; skip only its render check.
    real = remarks(gym.make("Hopper-v5"), skip_render_check=True)
    assert remarks(gym.make("DyDiff-Hopper", render_mode="rgb_array")) == real


def test_seeded_episodes_are_reproducible_and_seeds_differ():
    actions = np.random.default_rng(0).uniform(-1, 1, (40, 3))
    env = gym.make("DyDiff-Hopper")
    a, b = _rollout(env, 5, actions), _rollout(env, 5, actions)
    c = _rollout(env, 6, actions)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[1], c[1])


def test_a_kicked_row_continues_from_its_kicked_state():
    """``kick_rows`` moves the imagined state the next step starts from: a zero kick changes
    nothing, a small one changes what follows, and the window holds the kicked state."""
    actions = np.random.default_rng(0).uniform(-1, 1, (3, 3))
    env = gym.make("DyDiff-Hopper")
    core = env.unwrapped.core
    runs = []
    for delta in (0.0, 0.0, 0.05):
        env.reset(seed=3)
        env.step(actions[0])
        kicked = core.kick_rows(np.array([0]), np.full((1, 11), delta))
        np.testing.assert_allclose(core.window.current.numpy(), kicked, atol=1e-6)
        runs.append([env.step(a)[0] for a in actions[1:]])
    assert all(np.array_equal(x, y) for x, y in zip(runs[0], runs[1]))
    assert not np.allclose(runs[0][0], runs[2][0])


def test_truncation_at_max_episode_steps():
    env = gym.make("DyDiff-Hopper", max_episode_steps=5)
    env.reset(seed=0)
    flags = [env.step(np.zeros(3))[3] for _ in range(5)]
    assert flags == [False] * 4 + [True]


@pytest.mark.parametrize("action, message", [
    (np.zeros(4), "shape"), (np.zeros((1, 3)), "shape"), (["a", "b", "c"], "numeric"),
    (np.array([0.0, np.nan, 0.0]), "NaN"), (np.array([np.inf, 0.0, 0.0]), "NaN or inf"),
    (None, "shape"), ({"a": 1}, "numeric"),
])
def test_bad_actions_raise_a_clear_value_error(action, message):
    env = gym.make("DyDiff-Hopper").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match=message):
        env.step(action)


def test_out_of_range_actions_are_clipped_like_ctrlrange():
    env = gym.make("DyDiff-Hopper")
    env.reset(seed=3)
    wide = env.step(np.array([5.0, -7.0, 0.5]))[0]
    env.reset(seed=3)
    clipped = env.step(np.array([1.0, -1.0, 0.5]))[0]
    assert np.array_equal(wide, clipped)


def test_step_before_reset_raises():
    with pytest.raises(gym.error.ResetNeeded):
        gym.make("DyDiff-Hopper").unwrapped.step(np.zeros(3))


def test_ten_thousand_random_steps_stay_finite():
    env = gym.make("DyDiff-Hopper")
    env.reset(seed=0)
    actions = np.random.default_rng(1).uniform(-1, 1, (10_000, 3))
    for a in actions:
        obs, reward, terminated, truncated, _ = env.step(a)
        assert np.isfinite(obs).all() and np.isfinite(reward)
        if terminated or truncated:
            env.reset()


def test_a_diverging_model_ends_the_episode_with_finite_values(diverging_model):
    env = gym.make("DyDiff-Hopper", model=diverging_model)
    obs0, _ = env.reset(seed=0)
    results = [env.step(np.zeros(3)) for _ in range(3)]
    obs, reward, terminated, _, info = results[-1]
    assert np.isfinite(obs).all() and reward == 0.0 and terminated and info["model_diverged"]
    assert info["uncertainty"] == 0.0  # the model's NaN score is not passed on
    assert np.array_equal(obs, obs0.astype(np.float32))  # the last good state is kept
    assert not results[0][2]


def test_initial_obs_option_and_history_length():
    env = gym.make("DyDiff-Hopper", history=0)
    start = gym.make("Hopper-v5").reset(seed=9)[0] + 0.01
    obs, _ = env.reset(seed=0, options={"initial_obs": start})
    assert np.array_equal(obs, start)
    env.step(np.zeros(3))
    assert not env.unwrapped.core.window.valid[0, :-1].any()  # history=0: past always masked
    with pytest.raises(ValueError, match="initial_obs"):
        env.reset(options={"initial_obs": np.zeros(5)})
    with pytest.raises(ValueError, match="history must be in 0..4"):
        gym.make("DyDiff-Hopper", history=5)


def test_dataset_starts_come_with_their_recorded_history(hopper_random, tmp_path):
    path = save_hdf5(hopper_random, tmp_path / "starts.hdf5")
    env = gym.make("DyDiff-Hopper", start="dataset", dataset=str(path))
    obs, info = env.reset(seed=1)
    rows = np.flatnonzero((hopper_random["observations"] == obs.astype(np.float32)).all(1))
    assert len(rows) == 1
    window = env.unwrapped.core.window
    row = rows[0]
    first = row - int(window.valid[0].sum()) + 1  # the window reaches back to its episode start
    assert np.allclose(window.states[0, -1].numpy(), obs)
    if window.valid[0, 0]:
        assert np.allclose(window.states[0, 0].numpy(), hopper_random["observations"][row - 4])
    assert info["x_position"] == hopper_random["infos/qpos"][row, 0] and first >= 0
    with pytest.raises(ValueError, match="not found"):
        gym.make("DyDiff-Hopper", start="dataset", dataset=str(tmp_path / "missing.hdf5"))


def test_model_errors_say_what_and_how_to_fix(tmp_path):
    with pytest.raises(CheckpointError, match="dreamenv train"):
        gym.make("DyDiff-Hopper", model=str(tmp_path / "nowhere"))
    other = shutil.copytree(pretrained_path("hopper"), tmp_path / "walker")
    config = json.loads((other / "config.json").read_text())
    config["env_id"] = "Walker2d-v5"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="Walker2d-v5"):
        gym.make("DyDiff-Hopper", model=str(other))
    with pytest.raises(ValueError, match="start must be one of"):
        gym.make("DyDiff-Hopper", start="somewhere")


def test_render_draws_the_imagined_state():
    env = gym.make("DyDiff-Hopper", render_mode="rgb_array", width=64, height=48)
    env.reset(seed=0)
    first = env.render()
    for _ in range(10):
        env.step(np.ones(3))
    frame = env.render()
    assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
    assert not np.array_equal(first, frame)


def test_sampling_temperature_option():
    """A bad temperature is a one-line error at construction; temperature 0 reaches the model."""
    with pytest.raises(ValueError, match="sampling_temperature must be in"):
        gym.make("DyDiff-Hopper", sampling_temperature=2.0)
    env = gym.make("DyDiff-Hopper", sampling_temperature=0.0).unwrapped
    assert env.core.predict_kwargs["temperature"] == 0.0
    obs, _ = env.reset(seed=0)
    assert np.isfinite(env.step(np.zeros(3))[0]).all()


def test_a_shipped_model_is_named_as_a_checkpoint_directory_would_be(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the names resolve in any working directory
    named = gym.make_vec("DyDiff-Walker2d", num_envs=2, model="walker2d-rme")
    by_path = gym.make_vec("DyDiff-Walker2d", num_envs=2,
                           model=str(pretrained_path("walker2d-rme")))
    actions = np.zeros((2, 6))
    for env in (named, by_path):
        env.reset(seed=3)
    assert np.array_equal(named.step(actions)[0], by_path.step(actions)[0])
    generic = gym.make("DyDiff", model="walker2d+walker2d-rme")  # an ensemble of two names
    assert generic.observation_space.shape == (17,)
    with pytest.raises(CheckpointError, match="model 'walkr2d-rme': no such checkpoint "
                       "directory, nor a shipped model .*walker2d-rme") as error:
        gym.make("DyDiff-Walker2d", model="walkr2d-rme")
    assert "\n" not in str(error.value)
    (tmp_path / "hopper").mkdir()  # a directory of that name in the working directory wins
    with pytest.raises(CheckpointError, match="not a model checkpoint"):
        gym.make("DyDiff-Hopper", model="hopper")
