"""``gym.make_vec(id, tensors=True)``: the tensor-native vector env, run here on the CPU with the
code a GPU runs (torch streams, masked resets, the tasks' rules on tensors)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import dreamenv  # noqa: F401
from dreamenv.envs.tensor_vector import TensorDreamVectorEnv
from dreamenv.tasks import TASKS


def make(n: int, task: str = "Hopper", **kwargs) -> TensorDreamVectorEnv:
    return gym.make_vec(f"DyDiff-{task}", num_envs=n, tensors=True, precision="float32",
                        **kwargs)


def test_steps_are_the_numpy_envs_steps_as_tensors():
    """Same starts, same noise keys, same actions: the tensor env returns the NumPy env's
    observations, rewards, flags and info, as float32 tensors (the model's own values)."""
    n = 4
    numpy_env = gym.make_vec("DyDiff-Hopper", num_envs=n, precision="float32")
    numpy_env.unwrapped.core.predict_kwargs["backend"] = "torch"  # as the tensor env samples
    tensor_env = make(n)
    start, _ = numpy_env.reset(seed=7)
    numpy_env.reset(seed=7, options={"initial_obs": start})  # x = 0, as the tensor env's
    obs, info = tensor_env.reset(seed=0, options={"initial_obs": start})
    assert obs.dtype == torch.float32 and torch.equal(obs, torch.as_tensor(start).float())
    keys = numpy_env.unwrapped.core.noise.keys.copy()
    tensor_env.core.noise.reseed(np.arange(n), keys)
    rng = np.random.default_rng(1)
    for _ in range(12):
        action = rng.uniform(-1.2, 1.2, (n, 3))
        a = numpy_env.step(action)
        b = tensor_env.step(torch.as_tensor(action))
        assert isinstance(b[0], torch.Tensor) and b[2].dtype == torch.bool
        np.testing.assert_allclose(b[0].numpy(), a[0], atol=1e-5)
        np.testing.assert_allclose(b[1].numpy(), a[1], atol=1e-5)
        assert np.array_equal(b[2].numpy(), a[2]) and np.array_equal(b[3].numpy(), a[3])
        for key in ("reward_forward", "reward_ctrl", "reward_survive", "x_position",
                    "uncertainty", "_reward_ctrl"):
            np.testing.assert_allclose(b[4][key].numpy(), a[4][key], atol=1e-4, err_msg=key)


def test_a_row_depends_only_on_its_own_seed_and_actions():
    """Row i of a batch reset with seed s is the single env reset with seed s + i, through
    terminations, truncations and autoresets."""
    rows, steps = 4, 40
    batch = make(rows, max_episode_steps=9)
    actions = torch.as_tensor(np.random.default_rng(2).uniform(-1, 1, (steps, rows, 3)),
                              dtype=torch.float32)
    batch_obs = [batch.reset(seed=11)[0]]
    batch_obs += [batch.step(a)[0] for a in actions]
    for i in (0, 3):
        single = make(1, max_episode_steps=9)
        single_obs = [single.reset(seed=11 + i)[0]]
        single_obs += [single.step(a[i: i + 1])[0] for a in actions]
        np.testing.assert_allclose(torch.stack(single_obs)[:, 0], torch.stack(batch_obs)[:, i],
                                   atol=1e-5)


def test_next_step_autoreset_and_truncation():
    env = make(3, "HalfCheetah", max_episode_steps=3)  # never terminates: every end is the limit
    obs, _ = env.reset(seed=1)
    zero = torch.zeros(3, 6)
    for t in range(3):
        obs, reward, terminated, truncated, info = env.step(zero)
        assert truncated.tolist() == [t == 2] * 3 and not terminated.any()
    obs, reward, terminated, truncated, info = env.step(zero)
    assert reward.tolist() == [0.0] * 3 and not (terminated | truncated).any()
    assert torch.allclose(obs[:, :8], torch.zeros(3, 8), atol=0.1)  # a fresh start
    assert torch.allclose(info["x_position"], torch.zeros(3, dtype=torch.float64), atol=0.1)
    assert not info["_reward_forward"].any() and info["_x_position"].all()
    assert (env._elapsed == 0).all()


class FallingModel:
    """Row 0 falls on every step (z = 0.5); the other rows stand still; rewards are 1."""

    history_len, state_dim, action_dim = 0, 11, 3

    def predict(self, history, action, generator=None):
        from dreamenv.models import Prediction

        state = history.current.clone()
        state[0, 0] = 0.5
        return Prediction(state, torch.ones(len(action)), torch.zeros(len(action)))


def test_flags_rewards_and_masks_are_the_numpy_envs_through_autoresets():
    outputs = {}
    for tensors in (False, True):
        env = gym.make_vec("DyDiff-Hopper", num_envs=3, model=FallingModel(), tensors=tensors,
                           max_episode_steps=3)
        env.reset(seed=0)
        outputs[tensors] = []
        for _ in range(6):
            _, reward, terminated, truncated, info = env.step(np.zeros((3, 3)))
            as_list = {k: np.asarray(torch.as_tensor(v)).tolist() for k, v in info.items()
                       if k.startswith("_") or k == "model_diverged"}
            outputs[tensors].append((np.asarray(torch.as_tensor(reward)).tolist(),
                                     np.asarray(torch.as_tensor(terminated)).tolist(),
                                     np.asarray(torch.as_tensor(truncated)).tolist(), as_list))
    assert outputs[True] == outputs[False]
    assert outputs[True][0][1] == [True, False, False]  # row 0 fell, and the test can tell


def test_a_diverging_model_ends_the_rows_with_finite_values(diverging_model):
    env = gym.make_vec("DyDiff-Hopper", num_envs=2, model=diverging_model, tensors=True)
    obs0, _ = env.reset(seed=0)
    for _ in range(2):
        _, _, terminated, _, _ = env.step(torch.zeros(2, 3))
        assert not terminated.any()
    obs, reward, terminated, _, info = env.step(torch.zeros(2, 3))
    assert torch.isfinite(obs).all() and reward.tolist() == [0.0, 0.0] and terminated.all()
    assert info["model_diverged"].all() and info["uncertainty"].tolist() == [0.0, 0.0]
    assert torch.equal(obs, obs0)  # the last good state is kept


def test_seeds_per_row_and_a_rejected_initial_obs_changes_nothing():
    env = make(3)
    first, _ = env.reset(seed=[5, None, 7])
    again, _ = env.reset(seed=[5, None, 7])
    assert torch.equal(first[0], again[0]) and torch.equal(first[2], again[2])
    assert not torch.equal(first[1], again[1])  # no seed: the row's stream goes on
    assert torch.equal(first[0], make(1).reset(seed=5)[0][0])
    with pytest.raises(ValueError, match=r"initial_obs'\] must be a finite array of shape"):
        env.reset(seed=1, options={"initial_obs": torch.zeros(3, 4)})
    obs, *_ = env.step(torch.zeros(3, 3))  # still mid-episode: no reset happened
    assert (env._elapsed == 1).all()


@pytest.mark.parametrize("task", ["Hopper", "Walker2d", "HalfCheetah"])
def test_starts_follow_the_real_envs_reset_distribution(task):
    """Offsets from the real env's initial state: uniform in +-c on positions, uniform or
    c N(0, 1) on velocities (HalfCheetah), c the real env's reset noise scale."""
    env = make(4096, task)
    obs, _ = env.reset(seed=0)
    real = gym.make(f"{task}-v5").unwrapped
    scale, nq = real._reset_noise_scale, real.model.nq
    offsets = obs.double().numpy() - np.concatenate([real.init_qpos[1:], real.init_qvel])
    positions, velocities = offsets[:, : nq - 1], offsets[:, nq - 1:]
    assert np.abs(positions).max() <= scale * (1 + 1e-5)
    assert abs(positions.std() / (scale / np.sqrt(3)) - 1) < 0.05
    if TASKS[task.lower()].body.normal_reset_velocity:
        assert abs(velocities.std() / scale - 1) < 0.05 and np.abs(velocities).max() > 3 * scale
    else:
        assert np.abs(velocities).max() <= scale * (1 + 1e-5)
    assert np.abs(offsets.mean(0)).max() < 0.1 * scale
    real_obs = np.stack([real.reset(seed=s)[0] for s in range(3)])  # the same layout
    assert obs.shape[1] == real_obs.shape[1]
    assert np.abs(real_obs - np.concatenate([real.init_qpos[1:], real.init_qvel])).max() \
        < 4 * scale


def test_bad_actions_and_an_early_step_are_one_line_errors():
    env = make(2)
    with pytest.raises(gym.error.ResetNeeded):
        env.step(torch.zeros(2, 3))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action has shape \(2, 2\), expected \(2, 3\)"):
        env.step(torch.zeros(2, 2))
    bad = torch.zeros(2, 3)
    bad[1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf \(at index \[\[1, 2\]\]\)"):
        env.step(bad)
    with pytest.raises(ValueError, match="action must be numeric"):
        env.step("forward")
    obs, *_ = env.step(np.full((2, 3), 5.0))  # out of bounds: clipped, as MuJoCo does
    assert torch.isfinite(obs).all()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_task_rules_give_the_same_answers_on_tensors(task):
    """What the tensor env runs: each task's termination rule and reward terms, on tensors."""
    spec, body = TASKS[task], TASKS[task].body
    rng = np.random.default_rng(3)
    obs = rng.normal(0, 1, (64, 17 if body.nq == 9 else 11))
    obs[:, 0] = rng.uniform(0.5, 2.2, 64)
    obs[:3, 4] = [np.nan, np.inf, 200.0]
    action = rng.uniform(-1, 1, (64, 6 if body.nq == 9 else 3))
    answer = spec.terminated(obs)
    assert np.array_equal(spec.terminated(torch.as_tensor(obs)).numpy(), answer)
    terms = body.reward_terms(obs, action, answer)
    on_tensors = body.reward_terms(torch.as_tensor(obs), torch.as_tensor(action),
                                   torch.as_tensor(answer))
    assert terms.keys() == on_tensors.keys()
    for key in terms:
        np.testing.assert_allclose(on_tensors[key].numpy(), terms[key], err_msg=key)


def test_the_uncertainty_wrappers_keep_tensors():
    from dreamenv.wrappers import UncertaintyHaltVector, UncertaintyPenaltyVector

    env = UncertaintyPenaltyVector(make(3), lam=2.0)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(torch.zeros(3, 3))
    assert torch.allclose(reward, info["reward_model"] - 2.0 * info["uncertainty"])
    halting = UncertaintyHaltVector(make(3), threshold=1e-9, halt_reward=-5.0)  # every row
    halting.reset(seed=0)
    _, reward, terminated, _, info = halting.step(torch.zeros(3, 3))
    assert reward.tolist() == [-5.0] * 3 and terminated.all() and info["halted"].all()
    _, reward, terminated, _, _ = halting.step(torch.zeros(3, 3))
    assert reward.tolist() == [0.0] * 3 and not terminated.any()  # the autoreset step
