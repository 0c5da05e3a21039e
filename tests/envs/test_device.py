"""``device=``: the code a GPU runs (streams drawn by torch on the device, the window shifted by
torch, results copied back) run here on the CPU, against the default path."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import dreamenv  # noqa: F401
from dreamenv.models.history import History
from dreamenv.models.noise import RowNoise


def test_row_streams_drawn_by_torch_are_numpys_streams():
    keys = np.random.default_rng(0).integers(0, 2**63, 5, dtype=np.uint64)
    keys[0] = np.uint64(2**64 - 3)  # a key with the top bit set: int64 bits must still wrap
    host, device = RowNoise(keys), RowNoise(keys, device="cpu")
    for shape in [(5, 67), (5, 3, 4), (5, 1)]:
        assert np.array_equal(host.uniform(shape), device.uniform(shape).numpy())
        assert torch.allclose(host.randn(shape), device.randn(shape), atol=1e-6)
    rows, fresh = np.array([1, 4]), np.array([7, 9], dtype=np.uint64)
    host.reseed(rows, fresh)
    device.reseed(rows, fresh)
    assert np.array_equal(host.uniform((5, 6)), device.uniform((5, 6)).numpy())


def test_the_window_shifts_the_same_by_torch_and_by_numpy():
    start = torch.arange(6.0).reshape(2, 3)
    a, b = (History.start(start.clone(), history_len=3, action_dim=2) for _ in range(2))
    for t in range(4):
        action, state = torch.full((2, 2), float(t)), start + 10 * (t + 1)
        a.push_(action, state)
        b.push_(action, state, via_numpy=False)
    for name in ("states", "actions", "valid"):
        assert torch.equal(getattr(a, name), getattr(b, name))


def test_an_env_with_device_streams_steps_as_the_default_one():
    """Streams drawn by torch (the GPU path) give the same episode, to float rounding; 32 rows
    sample through torch, as on a GPU."""
    n = 32
    default = gym.make_vec("DyDiff-Hopper", num_envs=n, precision="float32")
    device = gym.make_vec("DyDiff-Hopper", num_envs=n, precision="float32", device="cpu")
    assert device.unwrapped.core.predict_kwargs["backend"] == "torch"
    device.unwrapped.core.noise = RowNoise(np.zeros(n, dtype=np.uint64), device="cpu")
    obs_a, _ = default.reset(seed=3)
    obs_b, _ = device.reset(seed=3)
    assert np.array_equal(obs_a, obs_b)
    rng = np.random.default_rng(0)
    for _ in range(10):
        action = rng.uniform(-1, 1, (n, 3))
        out_a, out_b = default.step(action), device.step(action)
        np.testing.assert_allclose(out_a[0], out_b[0], atol=1e-4)
        np.testing.assert_allclose(out_a[1], out_b[1], atol=1e-4)


def test_a_missing_or_mismatched_device_is_one_line():
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda': CUDA is not available"):
            gym.make("DyDiff-Hopper", device="cuda")
    from dreamenv.envs.core import load_dynamics
    from dreamenv.models import load_checkpoint, pretrained_path
    from dreamenv.tasks import TASKS

    model, _, _ = load_checkpoint(pretrained_path("hopper"), "Hopper-v5")
    with pytest.raises(ValueError, match="model object is on cpu, not device=meta"):
        load_dynamics(model, TASKS["hopper"], "meta")


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without CUDA")
def test_commands_take_a_device_and_refuse_a_missing_one(tmp_path, capsys):
    from dreamenv.cli import main
    from dreamenv.integrations.imagine import ImagineConfig, env_config

    assert env_config(ImagineConfig(device="cuda"))["device"] == "cuda"
    assert main(["compare", "random", "--episodes", "1", "--max-steps", "5", "--device", "cuda",
                 "--out", str(tmp_path)]) != 0
    assert "device='cuda': CUDA is not available" in capsys.readouterr().err
