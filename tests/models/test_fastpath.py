"""The sampling fast path computes the training path's function, and follows weight updates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics, context_tokens
from dreamenv.models.history import History
from dreamenv.models.noise import RowNoise

S, A, L, B = 11, 3, 4, 16


@pytest.fixture(params=["silu", "relu"])
def model(request):
    torch.manual_seed(0)
    m = DiffusionDynamics(DiffusionConfig(history_len=L, hidden=64, activation=request.param),
                          S, A)
    for p in m.parameters():  # move off the init so every term matters
        p.data += 0.05 * torch.randn_like(p)
    return m


def _inputs():
    gen = torch.Generator().manual_seed(1)
    h = History(torch.randn(B, L + 1, S, generator=gen), torch.rand(B, L, A, generator=gen),
                torch.ones(B, L + 1, dtype=torch.bool))
    h.valid[:3, :2] = False
    return h, torch.rand(B, A, generator=gen), torch.randn(B, S + 1, generator=gen)


@pytest.mark.parametrize("precision, tol", [("float32", 1e-5), ("bfloat16", 0.05)])
def test_plan_matches_the_training_forward(model, precision, tol):
    h, action, x = _inputs()
    sigma = torch.full(h.valid.shape, 0.01)
    tokens = context_tokens(model.encoder, model.state_norm, model.schedule.sigma_max, h, action,
                            sigma, ~h.valid, torch.Generator().manual_seed(0))
    plan = model.sampling_plan(precision)
    reference_cond = model.denoiser.condition(model.encoder.net(tokens))
    cond = plan.condition(tokens)
    assert torch.allclose(cond.float(), reference_cond, atol=tol, rtol=tol)
    for level in (5.0, 0.3, 0.01):
        reference = model.denoiser(x, torch.full((B,), level), reference_cond)
        assert torch.allclose(plan.denoise(x, level, cond), reference, atol=tol, rtol=tol)


def test_inference_tokens_match_the_training_tokens(model):
    h, action, _ = _inputs()
    level = 0.02
    reference = context_tokens(model.encoder, model.state_norm, model.schedule.sigma_max, h,
                               action, torch.full(h.valid.shape, level), ~h.valid,
                               torch.Generator().manual_seed(3))
    noise = torch.randn(B, (L + 1) * S, generator=torch.Generator().manual_seed(3))
    plan = model.sampling_plan("float32")
    fast = model.inference_tokens(plan, h.states, h.valid, h.actions, action, level, noise)
    assert torch.allclose(fast, reference, atol=1e-6)


def test_plan_is_rebuilt_after_a_weight_update(model):
    h, action, _ = _inputs()
    before = model.predict(h, action, torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.denoiser.out.bias += 1.0  # in place, as an optimiser step
    after = model.predict(h, action, torch.Generator().manual_seed(0))
    assert not torch.allclose(before.next_state, after.next_state)


def test_bfloat16_rows_do_not_depend_on_the_batch(model):
    h, action, _ = _inputs()
    keys = np.arange(B, dtype=np.uint64)
    full = model.predict(h, action, RowNoise(keys), precision="bfloat16")
    for i in (0, 5, B - 1):
        one = model.predict(h[i:i + 1], action[i:i + 1], RowNoise(keys[i:i + 1]),
                            precision="bfloat16")
        assert torch.equal(one.next_state, full.next_state[i:i + 1])


def test_unknown_precision(model):
    h, action, _ = _inputs()
    with pytest.raises(ValueError, match="precision"):
        model.predict(h, action, precision="float16")


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        DiffusionDynamics(DiffusionConfig(hidden=8, activation="gelu"), S, A)


@pytest.mark.parametrize("steps, temperature", [(2, 1.0), (1, 1.0), (3, 0.5)])
def test_numpy_backend_is_the_torch_function(model, steps, temperature):
    """The NumPy plan (single envs) gives the float32 torch result for the same noise, the
    uncertainty included, and torch tensors out."""
    h, action, _ = _inputs()
    keys = np.arange(B, dtype=np.uint64)
    reference = model.predict(h, action, RowNoise(keys), steps=steps, temperature=temperature)
    fast = model.predict(h, action, RowNoise(keys), steps=steps, temperature=temperature,
                         backend="numpy")
    for name in ("next_state", "reward", "uncertainty"):
        ours, theirs = getattr(fast, name), getattr(reference, name)
        assert isinstance(ours, torch.Tensor) and ours.dtype == theirs.dtype
        assert torch.allclose(ours, theirs, atol=1e-5, rtol=1e-5), name


@pytest.mark.parametrize("shown_from", [0, 2, L])
def test_numpy_backend_of_single_windows_is_the_torch_function(model, shown_from):
    """A single env's window (every token shown, or an episode's first steps, whose oldest
    tokens are masked) goes through the encoder's first layer with the tokens' arithmetic and
    mask folded in: the same function."""
    h, action, _ = _inputs()
    h.valid[:] = True
    h.valid[:, :shown_from] = False
    for row in range(4):
        one, key = h[row:row + 1], np.array([row], dtype=np.uint64)
        reference = model.predict(one, action[row:row + 1], RowNoise(key))
        fast = model.predict(one, action[row:row + 1], RowNoise(key), backend="numpy")
        for name in ("next_state", "reward", "uncertainty"):
            assert torch.allclose(getattr(fast, name), getattr(reference, name), atol=1e-5,
                                  rtol=1e-5), name


@pytest.mark.parametrize("all_shown", [False, True])
def test_predict_arrays_is_predict_on_the_numpy_backend(model, all_shown):
    """The single env's all-NumPy entry gives predict's numbers bit for bit, as new arrays (a
    later push into the window must not change a result already returned)."""
    h, action, _ = _inputs()
    if all_shown:
        h.valid[:] = True
    keys = np.arange(B, dtype=np.uint64)
    reference = model.predict(h, action, RowNoise(keys), steps=3, temperature=0.5,
                              backend="numpy")
    states, past_actions, valid = h.numpy_views()
    out = model.predict_arrays(states, valid, past_actions, action.numpy(), RowNoise(keys),
                               steps=3, temperature=0.5)
    for ours, theirs in zip(out, (reference.next_state, reference.reward,
                                  reference.uncertainty)):
        assert isinstance(ours, np.ndarray) and np.array_equal(ours, theirs.numpy())
        assert not np.shares_memory(ours, states)
    for generator, backend in ((RowNoise(keys), "torch"), (torch.Generator(), "numpy")):
        with pytest.raises(ValueError, match="NumPy on the CPU"):
            model.predict_arrays(states, valid, past_actions, action.numpy(), generator,
                                 backend=backend)


def test_numpy_backend_follows_weight_updates(model):
    h, action, _ = _inputs()
    before = model.predict(h, action, torch.Generator().manual_seed(0), backend="numpy")
    with torch.no_grad():
        model.state_norm.mean += 0.5  # a buffer, as load_state_dict changes it
    after = model.predict(h, action, torch.Generator().manual_seed(0), backend="numpy")
    reference = model.predict(h, action, torch.Generator().manual_seed(0))
    assert not torch.allclose(before.next_state, after.next_state)
    assert torch.allclose(after.next_state, reference.next_state, atol=1e-5)


def test_numpy_backend_refuses_what_it_cannot_compute(model):
    h, action, _ = _inputs()
    with pytest.raises(ValueError, match="backend must be one of"):
        model.predict(h, action, backend="jax")
    with pytest.raises(ValueError, match="numpy backend is float32"):
        model.predict(h, action, precision="bfloat16", backend="numpy")
    mixed = DiffusionDynamics(DiffusionConfig(history_len=L, hidden=16, temporal_mix=0.5), S, A)
    with pytest.raises(ValueError, match="no temporal_mix"):
        mixed.predict(h, action, backend="numpy")
