"""Checkpoints round-trip exactly and refuse foreign, corrupt or mismatched files in one line."""

from __future__ import annotations

import json

import pytest
import torch

from dreamenv.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics
from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble
from dreamenv.models.history import History
from dreamenv.models.normalizer import Normalizer
from dreamenv.models.termination import LearnedTermination

DATASET = {"name": "test", "sha256": "0" * 64, "transitions": 1}


def _models():
    torch.manual_seed(0)
    norm = Normalizer(torch.arange(11.0), torch.linspace(1, 2, 11))
    diffusion = DiffusionDynamics(DiffusionConfig(hidden=16, encoder_layers=1), 11, 3, norm,
                                  Normalizer(torch.zeros(12), torch.full((12,), 3.0)))
    ensemble = GaussianEnsemble(EnsembleConfig(hidden=8, layers=2), 11, 3)
    return diffusion, ensemble


@pytest.mark.parametrize("which", [0, 1])
def test_round_trip_predicts_identically(tmp_path, which):
    model = _models()[which]
    save_checkpoint(model, LearnedTermination(11), tmp_path, "Hopper-v5", DATASET)
    loaded, termination, config = load_checkpoint(tmp_path, "Hopper-v5")
    assert config["kind"] == model.kind and config["task"] == "hopper"
    assert config["dataset"] == DATASET and "normalization" in config
    h = History.start(torch.randn(4, 11), model.history_len, 3)
    a = torch.rand(4, 3)
    p = model.predict(h, a, torch.Generator().manual_seed(0))
    q = loaded.predict(h, a, torch.Generator().manual_seed(0))
    assert torch.equal(p.next_state, q.next_state) and torch.equal(p.reward, q.reward)


@pytest.fixture
def saved(tmp_path):
    save_checkpoint(_models()[0], LearnedTermination(11), tmp_path / "ckpt", "Hopper-v5", DATASET)
    return tmp_path / "ckpt"


def _one_line(excinfo, *fragments):
    msg = str(excinfo.value)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, msg


def test_checkpoint_of_another_task(saved):
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved, "Walker2d-v5")
    _one_line(e, "Hopper-v5", "Walker2d-v5", "dreamenv train")


def test_corrupt_weights(saved):
    data = bytearray((saved / "model.safetensors").read_bytes())
    data[-5] ^= 0xFF
    (saved / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved)
    _one_line(e, "model.safetensors", "checksum")


def test_bad_json_wrong_version_and_missing_files(saved, tmp_path):
    config = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved)
    _one_line(e, "format version 99")
    (saved / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved)
    _one_line(e, "config.json", "not valid JSON")
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "nowhere")
    _one_line(e, "nowhere", "dreamenv train")


def test_dimensions_that_do_not_match_the_weights(saved):
    config = json.loads((saved / "config.json").read_text())
    config["model_config"]["hidden"] = 32
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(saved)
    _one_line(e, "weights do not match")


def test_no_pickle_anywhere(saved):
    """The weight file is safetensors: a torch.save pickle in its place is refused."""
    torch.save({"x": torch.zeros(1)}, saved / "model.safetensors")
    with pytest.raises(CheckpointError):
        load_checkpoint(saved)


def test_shipped_pretrained_model_loads_and_is_small():
    from dreamenv.models import pretrained_path

    path = pretrained_path("hopper")
    model, _, config = load_checkpoint(path, "Hopper-v5")
    assert config["kind"] == "diffusion" and config["dataset"]["name"] == "hopper-full-replay"
    assert sum(f.stat().st_size for f in path.iterdir()) < 20e6
    h = History.start(torch.zeros(2, 11), model.history_len, 3)
    h.states[:, -1, 0] = 1.25  # standing height
    p = model.predict(h, torch.zeros(2, 3), torch.Generator().manual_seed(0))
    assert torch.isfinite(p.next_state).all() and torch.isfinite(p.reward).all()


def test_shipped_trajectory_model_loads_and_samples():
    from dreamenv.models import pretrained_trajectory_path

    path = pretrained_trajectory_path("hopper")
    model, _, config = load_checkpoint(path, "Hopper-v5")
    assert config["kind"] == "trajectory" and config["dataset"]["name"] == "hopper-full-replay"
    assert sum(f.stat().st_size for f in path.iterdir()) < 20e6
    h = History.start(torch.zeros(2, 11), model.history_len, 3)
    h.states[:, -1, 0] = 1.25
    states, rewards = model.sample_trajectory(h, torch.zeros(2, 40, 3),
                                              torch.Generator().manual_seed(0))
    assert states.shape == (2, 40, 11) and torch.isfinite(states).all()
    assert torch.isfinite(rewards).all()
