"""Both training loops: they learn, checkpoint, and resume exactly after an interruption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import dreamenv.training.common as common
from dreamenv.datasets.hdf5 import save_hdf5
from dreamenv.models.checkpoint import load_checkpoint
from dreamenv.models.diffusion import DiffusionConfig
from dreamenv.models.ensemble import EnsembleConfig
from dreamenv.models.trajectory import TrajectoryConfig
from dreamenv.training.common import ModelKind, TrainConfig
from dreamenv.training.run import train_model

DIFFUSION = DiffusionConfig(hidden=32, encoder_layers=1, denoiser_blocks=1, history_len=2)
ENSEMBLE = EnsembleConfig(members=3, elites=2, hidden=16, layers=2)
TRAJECTORY = TrajectoryConfig(history_len=2, window=8, channels=16, blocks=2, context_hidden=32,
                              context_layers=1, denoising_steps=3)


@pytest.fixture
def data_file(hopper_random, tmp_path):
    return str(save_hdf5(hopper_random, tmp_path / "data.hdf5"))


def _train_cfg(data_file, **kw):
    base = dict(dataset=data_file, diffusion_steps=60, eval_every=20, checkpoint_every=20,
                batch_size=32, ensemble_max_epochs=6, threads=1, holdout_fraction=0.2)
    return TrainConfig(**{**base, **kw})


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("kind, model_cfg", [(ModelKind.DIFFUSION, DIFFUSION),
                                             (ModelKind.ENSEMBLE, ENSEMBLE),
                                             (ModelKind.TRAJECTORY, TRAJECTORY)])
def test_killed_half_way_then_resumed_equals_uninterrupted(data_file, tmp_path, monkeypatch,
                                                           kind, model_cfg):
    cfg = _train_cfg(data_file, ensemble_patience=100)
    straight = train_model(kind, cfg, model_cfg, tmp_path / "straight")

    saves = {"n": 0}
    real_save = common.RunState.save

    def save_then_die(self, tensors, meta):
        real_save(self, tensors, meta)
        saves["n"] += 1
        if saves["n"] == 2:  # after the second checkpoint: step 40 / epoch 2
            raise _Interrupted

    monkeypatch.setattr(common.RunState, "save", save_then_die)
    with pytest.raises(_Interrupted):
        train_model(kind, cfg, model_cfg, tmp_path / "resumed")
    monkeypatch.setattr(common.RunState, "save", real_save)
    resumed = train_model(kind, cfg, model_cfg, tmp_path / "resumed")

    a, _, config_a = load_checkpoint(straight)
    b, _, config_b = load_checkpoint(resumed)
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert config_a["weights_sha256"] == config_b["weights_sha256"]
    assert (tmp_path / "straight" / "training.png").stat().st_size > 1000


def test_diffusion_learns(data_file, tmp_path):
    out = train_model(ModelKind.DIFFUSION, _train_cfg(data_file, diffusion_steps=400,
                                                       eval_every=10, batch_size=64),
                      DIFFUSION, tmp_path / "m")
    log = json.loads((out / "train_state.json").read_text())["log"]
    # A 32-wide net in 400 steps: the held-out EDM loss falls steadily (about 1.07 -> 0.93).
    losses = [r["holdout_loss"] for r in log]
    assert losses[-1] < 0.9 * losses[0] and losses[-1] == min(losses)
    _, _, config = load_checkpoint(out, "Hopper-v5")
    assert config["dataset"]["transitions"] == 600 and len(config["dataset"]["sha256"]) == 64


def test_ensemble_stops_early_and_picks_elites(data_file, tmp_path):
    cfg = _train_cfg(data_file, ensemble_max_epochs=200, ensemble_patience=2)
    out = train_model(ModelKind.ENSEMBLE, cfg, ENSEMBLE, tmp_path / "e")
    model, _, config = load_checkpoint(out)
    mse = np.array(config["training"]["holdout_mse"])
    assert config["training"]["epochs"] < 200  # stopped on held-out loss, not the cap
    assert sorted(model.elite_idx.tolist()) == sorted(np.argsort(mse)[:2].tolist())


def test_resume_with_another_config_is_refused(data_file, tmp_path):
    train_model(ModelKind.DIFFUSION, _train_cfg(data_file, diffusion_steps=20), DIFFUSION,
                tmp_path / "m")
    with pytest.raises(ValueError, match="another config"):
        train_model(ModelKind.DIFFUSION, _train_cfg(data_file, diffusion_steps=40), DIFFUSION,
                    tmp_path / "m")
    # How many threads do the work is not part of what the run is.
    train_model(ModelKind.DIFFUSION, _train_cfg(data_file, diffusion_steps=20, threads=2),
                DIFFUSION, tmp_path / "m")


def test_dynamical_diffusion_trains_and_round_trips(data_file, tmp_path):
    cfg = DiffusionConfig(**{**DIFFUSION.__dict__, "temporal_mix": 0.5})
    out = train_model(ModelKind.DIFFUSION, _train_cfg(data_file, diffusion_steps=20), cfg,
                      tmp_path / "dyn")
    model, _, _ = load_checkpoint(out)
    assert model.cfg.temporal_mix == 0.5 and model.mix is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU machine")
def test_cuda_device_without_cuda_is_a_one_line_error(data_file, tmp_path):
    with pytest.raises(ValueError, match="CUDA is not available"):
        train_model(ModelKind.DIFFUSION, _train_cfg(data_file, device="cuda"), DIFFUSION,
                    tmp_path / "gpu")


class _StandStill:
    """A fake model whose every prediction is 'nothing moves'."""

    history_len, state_dim, action_dim = 2, 11, 3

    def predict(self, history, action, generator=None):
        from dreamenv.models.interface import Prediction
        b = action.shape[0]
        return Prediction(history.current.clone(), torch.zeros(b), torch.zeros(b))


def test_own_history_replaces_the_window_with_the_models_rollout(hopper_random):
    from dreamenv.training.data import TransitionData, with_own_history

    data = TransitionData(hopper_random, 0.2, 0)
    rows = data.train_rows[:40]
    real = data.batch(rows, 2)
    own = with_own_history(_StandStill(), data, rows, 2, torch.Generator())
    full = real.history.valid.all(1)
    assert full.any() and (~full).any()
    # A model that never moves repeats s_{t-2} through the window.
    start = torch.as_tensor(data.obs[rows[full.numpy()] - 2])
    assert torch.equal(own.history.states[full], start[:, None].expand(-1, 3, -1))
    assert torch.equal(own.history.states[~full], real.history.states[~full])
    assert torch.equal(own.next_state, real.next_state)
    assert torch.equal(own.history.actions, real.history.actions)


def test_training_on_own_rollouts_runs(data_file, tmp_path):
    out = train_model(ModelKind.DIFFUSION, _train_cfg(data_file, diffusion_steps=20,
                                                      own_history_share=0.5),
                      DIFFUSION, tmp_path / "own")
    assert (out / "model.safetensors").exists()
    with pytest.raises(ValueError, match="own_history_share"):
        train_model(ModelKind.DIFFUSION, _train_cfg(data_file, own_history_share=2.0),
                    DIFFUSION, tmp_path / "bad")


@pytest.mark.parametrize("per_token", [True, False])
def test_trajectory_model_learns_and_refuses_to_step_an_env(data_file, tmp_path, per_token):
    from dataclasses import replace

    import gymnasium as gym

    from dreamenv.models import CheckpointError

    cfg = replace(TRAJECTORY, per_token_noise=per_token)
    out = train_model(ModelKind.TRAJECTORY, _train_cfg(data_file, diffusion_steps=300,
                                                        eval_every=20, batch_size=32),
                      cfg, tmp_path / "traj")
    log = json.loads((out / "train_state.json").read_text())["log"]
    assert log[-1]["holdout_loss"] < 0.9 * log[0]["holdout_loss"]
    model, _, config = load_checkpoint(out)
    assert config["kind"] == "trajectory" and model.cfg.per_token_noise is per_token
    with pytest.raises(CheckpointError, match="cannot step an env"):
        gym.make("DyDiff-Hopper", model=str(out))


def test_plot_log_draws_a_sparse_key_through_its_finite_values(tmp_path, monkeypatch):
    """An imagine log has no imagined return in iterations where no episode ended (NaN in
    memory, None in JSON): the curve must still be drawn, negative returns included."""
    import matplotlib.axes

    from dreamenv.training.common import plot_log

    drawn = {}
    original = matplotlib.axes.Axes.plot

    def record(self, xs, ys, **kwargs):
        drawn[kwargs["label"]] = (list(xs), list(ys))
        return original(self, xs, ys, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "plot", record)
    log = [{"step": 1, "a": float("nan"), "b": -300.0}, {"step": 2, "a": 5.0, "b": 10.0},
           {"step": 3, "a": None, "b": 20.0}, {"step": 4, "a": 7.0, "b": 30.0}]
    plot_log(log, ("a", "b"), tmp_path / "p.png", "step", "t", {"random": -280.0},
             yscale="symlog")
    assert drawn["a"] == ([2, 4], [5.0, 7.0]) and drawn["b"][1][0] == -300.0
    assert (tmp_path / "p.png").stat().st_size > 0
