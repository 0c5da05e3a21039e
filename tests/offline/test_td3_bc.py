"""TD3+BC on a tiny real dataset: it trains end to end, resumes exactly, exports a raw-observation
actor, and mixes generated transitions in at the configured share."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import dreamenv.offline.td3_bc as td3_bc
from dreamenv.behaviour.policy import TanhDeterministicActor, load_actor
from dreamenv.datasets.hdf5 import save_hdf5

TINY = td3_bc.TD3BCConfig(total_steps=300, batch_size=32, hidden=32, eval_every=150,
                          eval_episodes=2, checkpoint_every=100, refresh_every=100,
                          synthetic_capacity=500)


@pytest.fixture
def tiny(hopper_random, tmp_path):
    path = save_hdf5(hopper_random, tmp_path / "tiny.hdf5")
    return replace(TINY, dataset=str(path))


class RelabelledDataset:
    """A synthetic source made of dataset rows with the policy's own actions and reward 100, so
    that a batch's synthetic rows can be told apart by their reward."""

    def __init__(self, data, rows=200):
        self.data, self.rows, self.policies = data, rows, []

    def transitions(self, policy, rng):
        self.policies.append(policy)
        idx = rng.integers(0, len(self.data), self.rows)
        obs = self.data["observations"][idx]
        return {"observations": obs, "actions": policy.act(obs, rng),
                "next_observations": self.data["next_observations"][idx],
                "rewards": np.full(self.rows, 100.0, np.float32),
                "terminals": np.zeros(self.rows, np.float32)}


def test_end_to_end_run_scores_and_exports(tiny, tmp_path):
    result = td3_bc.train_td3_bc(tiny, tmp_path / "run")
    assert [r["step"] for r in result["evals"]] == [150, 300]
    assert all(np.isfinite(r["score"]) for r in result["evals"])
    actor, info = load_actor(tmp_path / "run" / "policy.safetensors", "Hopper-v5")
    assert isinstance(actor, TanhDeterministicActor)
    assert info["step"] == 300 and info["algo"] == "TD3+BC" and info["synthetic"] == "none"
    assert json.loads((tmp_path / "run" / "evals.json").read_text()) == result["evals"]


def test_exported_actor_takes_raw_observations():
    torch.manual_seed(0)
    actor = TanhDeterministicActor(11, 3, (16, 16))
    mean, std = np.linspace(-1, 1, 11).astype(np.float32), np.linspace(0.5, 2, 11).astype(
        np.float32)
    obs = torch.randn(5, 11)
    raw = td3_bc.exported_actor(actor, mean, std)(obs)
    torch.testing.assert_close(raw, actor((obs - torch.as_tensor(mean)) / torch.as_tensor(std)))


def test_interrupted_run_resumes_to_the_same_result(tiny, tmp_path, monkeypatch, hopper_random):
    source = RelabelledDataset(hopper_random)
    straight = td3_bc.train_td3_bc(tiny, tmp_path / "straight", source, "relabelled")
    real_save = td3_bc.RunState.save

    class Interrupted(Exception):
        pass

    def save_then_die(self, tensors, meta):
        real_save(self, tensors, meta)
        if meta["step"] == 200:
            raise Interrupted

    monkeypatch.setattr(td3_bc.RunState, "save", save_then_die)
    with pytest.raises(Interrupted):
        td3_bc.train_td3_bc(tiny, tmp_path / "resumed", RelabelledDataset(hopper_random),
                            "relabelled")
    monkeypatch.setattr(td3_bc.RunState, "save", real_save)
    resumed = td3_bc.train_td3_bc(tiny, tmp_path / "resumed", RelabelledDataset(hopper_random),
                                  "relabelled")
    assert [r["return_mean"] for r in resumed["evals"]] == [
        r["return_mean"] for r in straight["evals"]]
    a = load_actor(tmp_path / "straight" / "policy.safetensors")[0].state_dict()
    b = load_actor(tmp_path / "resumed" / "policy.safetensors")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="another config"):
        td3_bc.train_td3_bc(replace(tiny, alpha=1.0), tmp_path / "resumed")


def test_synthetic_rows_are_the_configured_share(tiny, tmp_path, monkeypatch, hopper_random):
    source = RelabelledDataset(hopper_random)
    shares = []
    real_loss = td3_bc.critic_loss

    def spy(batch, *args):
        shares.append(float((batch["rewards"] == 100.0).float().mean()))
        return real_loss(batch, *args)

    monkeypatch.setattr(td3_bc, "critic_loss", spy)
    td3_bc.train_td3_bc(replace(tiny, real_ratio=0.75, total_steps=200), tmp_path / "r", source)
    assert len(source.policies) == 2  # steps 0 and 100
    obs = hopper_random["observations"][:4]
    assert source.policies[0].act(obs, None).shape == (4, 3)  # a raw-observation policy
    assert set(shares) == {0.25}  # 8 of 32 rows


@pytest.mark.parametrize("damage, message", [
    (lambda rows: rows.update(actions=rows["actions"][:, :2]), "actions has shape"),
    (lambda rows: rows["rewards"].__setitem__(0, np.nan), "rewards holds NaN"),
    (lambda rows: rows.pop("terminals"), "lack terminals"),
])
def test_bad_synthetic_rows_are_one_line_errors(tiny, tmp_path, hopper_random, damage, message):
    class Broken(RelabelledDataset):
        def transitions(self, policy, rng):
            rows = super().transitions(policy, rng)
            damage(rows)
            return rows

    with pytest.raises(ValueError, match=message):
        td3_bc.train_td3_bc(tiny, tmp_path / "run", Broken(hopper_random))


def test_offline_train_command(tiny, tmp_path, capsys):
    from dreamenv.cli import main

    out = tmp_path / "cli"
    assert main(["offline", "train", "--dataset", tiny.dataset, "--total-steps", "100",
                 "--batch-size", "32", "--hidden", "32", "--eval-every", "100",
                 "--eval-episodes", "1", "--out", str(out)]) == 0
    assert '"step": 100' in capsys.readouterr().out
    assert (out / "policy.safetensors").exists()
    assert main(["offline", "train", "--dataset", str(tmp_path / "missing.hdf5"),
                 "--out", str(out)]) == 2


def test_dataset_without_env_id_is_a_one_line_error(hopper_random, tmp_path):
    from dreamenv.datasets.dataset import OfflineDataset

    path = save_hdf5(OfflineDataset(hopper_random.arrays, {}), tmp_path / "anon.hdf5")
    with pytest.raises(ValueError, match="no env_id"):
        td3_bc.train_td3_bc(replace(TINY, dataset=str(path)), tmp_path / "run")
