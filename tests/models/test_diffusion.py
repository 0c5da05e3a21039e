"""The diffusion model's predict contract: shapes, reproducibility, cost structure, errors."""

from __future__ import annotations

import pytest
import torch

from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics
from dreamenv.models.fastpath import SamplingPlan
from dreamenv.models.history import History

S, A, L = 11, 3, 4


@pytest.fixture
def model():
    torch.manual_seed(0)
    return DiffusionDynamics(DiffusionConfig(history_len=L, hidden=32, encoder_layers=1), S, A)


def _history(b=6):
    gen = torch.Generator().manual_seed(1)
    h = History(torch.randn(b, L + 1, S, generator=gen), torch.rand(b, L, A, generator=gen),
                torch.ones(b, L + 1, dtype=torch.bool))
    h.valid[0, :2] = False
    return h


def test_shapes_and_reproducibility(model):
    h, a = _history(), torch.zeros(6, A)
    p1 = model.predict(h, a, torch.Generator().manual_seed(3))
    p2 = model.predict(h, a, torch.Generator().manual_seed(3))
    p3 = model.predict(h, a, torch.Generator().manual_seed(4))
    assert p1.next_state.shape == (6, S) and p1.reward.shape == (6,)
    assert p1.uncertainty.shape == (6,) and torch.all(p1.uncertainty >= 0)
    assert torch.equal(p1.next_state, p2.next_state) and torch.equal(p1.reward, p2.reward)
    assert not torch.equal(p1.next_state, p3.next_state)


def test_context_is_encoded_once_per_step_not_per_denoising_step(model, monkeypatch):
    calls = {"condition": 0, "denoise": 0}
    for name in calls:
        original = getattr(SamplingPlan, name)

        def counted(self, *args, _name=name, _original=original):
            calls[_name] += 1
            return _original(self, *args)
        monkeypatch.setattr(SamplingPlan, name, counted)
    model.predict(_history(), torch.zeros(6, A), steps=5)
    assert calls == {"condition": 1, "denoise": 5}


def test_steps_out_of_range(model):
    for steps in (0, 51):
        with pytest.raises(ValueError, match="denoising steps"):
            model.predict(_history(), torch.zeros(6, A), steps=steps)


def test_sampling_temperature(model):
    """Temperature 1 is the default sampler; 0 removes the sampling noise, so only the context's
    stabilisation noise (1e-3 here) is left between two seeds; the noise is drawn either way, so
    the stream a row continues with is the same."""
    h, a = _history(), torch.zeros(6, A)
    default = [model.predict(h, a, torch.Generator().manual_seed(seed)) for seed in (3, 4)]
    assert torch.equal(model.predict(h, a, torch.Generator().manual_seed(3),
                                     temperature=1.0).next_state, default[0].next_state)
    cold = [model.predict(h, a, torch.Generator().manual_seed(seed), temperature=0.0)
            for seed in (3, 4)]
    cold_gap = (cold[0].next_state - cold[1].next_state).abs().max()
    assert cold_gap < 0.1 * (default[0].next_state - default[1].next_state).abs().max()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    model.predict(h, a, g1, temperature=0.0)
    model.predict(h, a, g2)
    assert torch.equal(torch.randn(3, generator=g1), torch.randn(3, generator=g2))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="temperature"):
            model.predict(h, a, temperature=bad)


def test_invalid_history_tokens_are_ignored(model):
    """Whatever garbage sits in a masked token, the prediction is the same."""
    h, a = _history(), torch.zeros(6, A)
    garbage = History(h.states.clone(), h.actions.clone(), h.valid)
    garbage.states[0, :2] = 1e6
    garbage.actions[0, :2] = -7
    p = model.predict(h, a, torch.Generator().manual_seed(0))
    q = model.predict(garbage, a, torch.Generator().manual_seed(0))
    assert torch.equal(p.next_state, q.next_state)


def test_loss_is_finite_and_has_gradients(model):
    h = _history()
    loss = model.loss(h, torch.zeros(6, A), torch.randn(6, S), torch.randn(6))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_dynamical_diffusion_option_trains_and_samples():
    torch.manual_seed(0)
    cfg = DiffusionConfig(history_len=L, hidden=32, encoder_layers=1, temporal_mix=0.5)
    model = DiffusionDynamics(cfg, S, A)
    h = _history()
    previous = model.previous_target(h)
    assert previous.shape == (6, S + 1) and torch.all(previous[:, -1] == 0)
    h.valid[1, -2] = False  # no previous state: nothing to blend in
    assert torch.all(model.previous_target(h)[1] == 0)
    loss = model.loss(h, torch.zeros(6, A), torch.randn(6, S), torch.randn(6))
    loss.backward()
    assert torch.isfinite(loss)
    p = model.predict(h, torch.zeros(6, A), torch.Generator().manual_seed(3))
    assert p.next_state.shape == (6, S) and torch.isfinite(p.next_state).all()
    with pytest.raises(ValueError, match="Heun"):
        model.predict(h, torch.zeros(6, A), heun=True)
    with pytest.raises(ValueError, match="temporal_mix"):
        DiffusionDynamics(DiffusionConfig(temporal_mix=1.5), S, A)
