"""Policy weight files: round trip, and refusal of foreign or damaged files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamenv.behaviour import behaviour_policy, weights_path
from dreamenv.behaviour.policy import (
    ActorPolicy,
    RandomPolicy,
    TanhDeterministicActor,
    TanhGaussianActor,
    load_actor,
    save_actor,
)


def test_round_trip_and_metadata(tmp_path):
    actor = TanhGaussianActor(11, 3, (8, 8))
    save_actor(actor, tmp_path / "a.safetensors", "Hopper-v5", step=7)
    loaded, info = load_actor(tmp_path / "a.safetensors", env_id="Hopper-v5")
    assert info["step"] == 7 and info["env_id"] == "Hopper-v5"
    obs = np.random.default_rng(0).standard_normal((4, 11))
    a = ActorPolicy(actor, deterministic=True).act(obs, np.random.default_rng(0))
    b = ActorPolicy(loaded, deterministic=True).act(obs, np.random.default_rng(0))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 3) and np.all(np.abs(a) <= 1)


def test_deterministic_actor_round_trip_acts_without_noise(tmp_path):
    actor = TanhDeterministicActor(11, 3, (8, 8))
    save_actor(actor, tmp_path / "td3.safetensors", "Hopper-v5", algo="TD3")
    loaded, info = load_actor(tmp_path / "td3.safetensors", env_id="Hopper-v5")
    assert isinstance(loaded, TanhDeterministicActor) and info["algo"] == "TD3"
    obs = np.random.default_rng(0).standard_normal((4, 11))
    # "Sampled" and mean actions agree: TD3's actor has no noise of its own.
    a = ActorPolicy(loaded).act(obs, np.random.default_rng(0))
    b = ActorPolicy(actor, deterministic=True).act(obs, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)


def test_sampling_is_reproducible_from_the_generator():
    policy = ActorPolicy(TanhGaussianActor(11, 3, (8,)))
    obs = np.zeros((5, 11))
    first = policy.act(obs, np.random.default_rng(1))
    np.testing.assert_array_equal(first, policy.act(obs, np.random.default_rng(1)))
    assert not np.array_equal(first, policy.act(obs, np.random.default_rng(2)))


def test_foreign_env_and_corrupt_files_are_refused(tmp_path):
    save_actor(TanhGaussianActor(11, 3, (8,)), tmp_path / "a.safetensors", "Walker2d-v5")
    with pytest.raises(ValueError, match="Walker2d-v5.*not 'Hopper-v5'"):
        load_actor(tmp_path / "a.safetensors", env_id="Hopper-v5")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="junk.safetensors: not a readable"):
        load_actor(tmp_path / "junk.safetensors")
    torch.save({"x": torch.zeros(1)}, tmp_path / "pickle.safetensors")
    with pytest.raises(ValueError, match="pickle.safetensors"):
        load_actor(tmp_path / "pickle.safetensors")
    with pytest.raises(ValueError, match="not found"):
        load_actor(tmp_path / "missing.safetensors")


def test_random_policy_is_uniform_in_bounds(rng):
    actions = RandomPolicy(-np.ones(3), np.ones(3)).act(np.zeros((10_000, 11)), rng)
    assert actions.dtype == np.float32 and np.all(np.abs(actions) <= 1)
    assert abs(actions.mean()) < 0.02 and abs(actions.var() - 1 / 3) < 0.01


def test_unknown_level_and_task():
    with pytest.raises(ValueError, match="unknown policy level"):
        behaviour_policy("hopper", "grandmaster")
    with pytest.raises(ValueError, match="unknown task"):
        behaviour_policy("ant", "expert")
    assert weights_path("hopper", "expert").name == "Hopper-v5-expert.safetensors"
