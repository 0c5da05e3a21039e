"""The behaviour SAC run: it learns, checkpoints atomically and resumes bit-exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dreamenv.behaviour.sac as sac
from dreamenv.behaviour.policy import load_actor

TINY = sac.SACConfig(total_steps=900, learning_starts=200, eval_every=300, checkpoint_every=300,
                     batch_size=32, hidden=32, eval_episodes=2)


class _Interrupted(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    straight = sac.train_sac(TINY, tmp_path / "straight")

    real_checkpoint = sac._checkpoint

    def checkpoint_then_die(run_dir, cfg, *args):
        real_checkpoint(run_dir, cfg, *args)
        if args[-3] == 600:  # the step argument
            raise _Interrupted

    monkeypatch.setattr(sac, "_checkpoint", checkpoint_then_die)
    with pytest.raises(_Interrupted):
        sac.train_sac(TINY, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["step"] == 600
    monkeypatch.setattr(sac, "_checkpoint", real_checkpoint)
    resumed = sac.train_sac(TINY, tmp_path / "resumed")

    assert [e["return_mean"] for e in resumed["evals"]] == [
        e["return_mean"] for e in straight["evals"]]
    with np.load(sac.run_file(tmp_path / "straight", "buffer_file")) as a, \
            np.load(sac.run_file(tmp_path / "resumed", "buffer_file")) as b:
        assert a.files == b.files and len(a["rewards"]) == 900
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    actor_a, _ = load_actor(tmp_path / "straight" / "snapshots" / "step_0000900.safetensors")
    actor_b, _ = load_actor(tmp_path / "resumed" / "snapshots" / "step_0000900.safetensors")
    for pa, pb in zip(actor_a.parameters(), actor_b.parameters()):
        assert (pa == pb).all()


def test_resume_with_another_config_is_refused(tmp_path):
    small = sac.SACConfig(total_steps=300, learning_starts=100, eval_every=300,
                          checkpoint_every=300, batch_size=16, hidden=16, eval_episodes=1)
    sac.train_sac(small, tmp_path)
    other = sac.SACConfig(**{**small.__dict__, "total_steps": 400})
    with pytest.raises(ValueError, match="another config"):
        sac.train_sac(other, tmp_path)


def test_crash_inside_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    """Killed after the new buffer is written but before the commit record: the run resumes
    from the previous checkpoint and ends exactly as an uninterrupted run."""
    straight = sac.train_sac(TINY, tmp_path / "straight")
    real_atomic = sac.atomic_path

    def die_on_second_commit_record(path):
        if str(path).endswith("checkpoint.json") and "step_0000600" in "".join(
                p.name for p in (tmp_path / "resumed" / "snapshots").glob("*")):
            raise _Interrupted
        return real_atomic(path)

    monkeypatch.setattr(sac, "atomic_path", die_on_second_commit_record)
    with pytest.raises(_Interrupted):
        sac.train_sac(TINY, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["step"] == 300
    monkeypatch.setattr(sac, "atomic_path", real_atomic)
    resumed = sac.train_sac(TINY, tmp_path / "resumed")
    assert [e["return_mean"] for e in resumed["evals"]] == [
        e["return_mean"] for e in straight["evals"]]
    assert len(list((tmp_path / "resumed").glob("buffer*.npz"))) == 1
