"""The off-policy runs on the real env (behaviour SAC, family TD3): they checkpoint atomically
and resume bit-exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dreamenv.behaviour.replay as replay
import dreamenv.behaviour.sac as sac
import dreamenv.behaviour.td3 as td3
from dreamenv.behaviour.policy import TanhDeterministicActor, load_actor

TINY = sac.SACConfig(total_steps=900, learning_starts=200, eval_every=300, checkpoint_every=300,
                     batch_size=32, hidden=32, eval_episodes=2)
TINY_TD3 = td3.TD3Config(total_steps=900, learning_starts=200, eval_every=300,
                         checkpoint_every=300, batch_size=32, hidden=32, eval_episodes=2)
RUNS = {"sac": (sac, sac.train_sac, TINY), "td3": (td3, td3.train_td3, TINY_TD3)}


class _Interrupted(Exception):
    pass


@pytest.mark.parametrize("algo", sorted(RUNS))
def test_interrupted_run_resumes_to_the_same_result(algo, tmp_path, monkeypatch):
    module, train, cfg = RUNS[algo]
    straight = train(cfg, tmp_path / "straight")

    real_checkpoint = module._checkpoint

    def checkpoint_then_die(run_dir, cfg, *args):
        real_checkpoint(run_dir, cfg, *args)
        if args[-3] == 600:  # the step argument
            raise _Interrupted

    monkeypatch.setattr(module, "_checkpoint", checkpoint_then_die)
    with pytest.raises(_Interrupted):
        train(cfg, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["step"] == 600
    monkeypatch.setattr(module, "_checkpoint", real_checkpoint)
    resumed = train(cfg, tmp_path / "resumed")

    assert [e["return_mean"] for e in resumed["evals"]] == [
        e["return_mean"] for e in straight["evals"]]
    with np.load(sac.run_file(tmp_path / "straight", "buffer_file")) as a, \
            np.load(sac.run_file(tmp_path / "resumed", "buffer_file")) as b:
        assert a.files == b.files and len(a["rewards"]) == 900
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    actor_a, _ = load_actor(tmp_path / "straight" / "snapshots" / "step_0000900.safetensors")
    actor_b, _ = load_actor(tmp_path / "resumed" / "snapshots" / "step_0000900.safetensors")
    assert isinstance(actor_a, TanhDeterministicActor) == (algo == "td3")
    for pa, pb in zip(actor_a.parameters(), actor_b.parameters()):
        assert (pa == pb).all()


def test_sac_paused_at_a_snapshot_step_resumes_to_the_same_buffer(tmp_path):
    """medium-replay trains the run only to the medium snapshot's step (450 here, between
    checkpoints); the paused run's buffer is the whole run's prefix, and resuming finishes it."""
    straight = sac.train_sac(TINY, tmp_path / "straight")
    paused = sac.train_sac(TINY, tmp_path / "paused", stop_at=450)
    assert json.loads((tmp_path / "paused" / "checkpoint.json").read_text())["step"] == 450
    assert len(paused["evals"]) == 1  # the step-300 evaluation only
    with np.load(sac.run_file(tmp_path / "straight", "buffer_file")) as a, \
            np.load(sac.run_file(tmp_path / "paused", "buffer_file")) as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key][:450], b[key], err_msg=key)
    resumed = sac.train_sac(TINY, tmp_path / "paused")
    assert [e["return_mean"] for e in resumed["evals"]] == [
        e["return_mean"] for e in straight["evals"]]


def test_resume_with_another_config_is_refused(tmp_path):
    small = sac.SACConfig(total_steps=300, learning_starts=100, eval_every=300,
                          checkpoint_every=300, batch_size=16, hidden=16, eval_episodes=1)
    sac.train_sac(small, tmp_path)
    other = sac.SACConfig(**{**small.__dict__, "hidden": 8})
    with pytest.raises(ValueError, match="another config"):
        sac.train_sac(other, tmp_path)
    shorter = sac.SACConfig(**{**small.__dict__, "total_steps": 200})
    with pytest.raises(ValueError, match="another config"):
        sac.train_sac(shorter, tmp_path)


def test_a_finished_run_extended_equals_one_longer_run(tmp_path):
    straight = td3.train_td3(TINY_TD3, tmp_path / "straight")
    td3.train_td3(td3.TD3Config(**{**TINY_TD3.__dict__, "total_steps": 600}), tmp_path / "ext")
    extended = td3.train_td3(TINY_TD3, tmp_path / "ext")
    assert [e["return_mean"] for e in extended["evals"]] == [
        e["return_mean"] for e in straight["evals"]]
    with np.load(sac.run_file(tmp_path / "straight", "buffer_file")) as a, \
            np.load(sac.run_file(tmp_path / "ext", "buffer_file")) as b:
        np.testing.assert_array_equal(a["observations"], b["observations"])


def test_crash_inside_a_checkpoint_keeps_the_previous_one(tmp_path, monkeypatch):
    """Killed after the new buffer is written but before the commit record: the run resumes
    from the previous checkpoint and ends exactly as an uninterrupted run."""
    straight = sac.train_sac(TINY, tmp_path / "straight")
    real_atomic = replay.atomic_path

    def die_on_second_commit_record(path):
        if str(path).endswith("checkpoint.json") and "step_0000600" in "".join(
                p.name for p in (tmp_path / "resumed" / "snapshots").glob("*")):
            raise _Interrupted
        return real_atomic(path)

    monkeypatch.setattr(replay, "atomic_path", die_on_second_commit_record)
    with pytest.raises(_Interrupted):
        sac.train_sac(TINY, tmp_path / "resumed")
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["step"] == 300
    monkeypatch.setattr(replay, "atomic_path", real_atomic)
    resumed = sac.train_sac(TINY, tmp_path / "resumed")
    assert [e["return_mean"] for e in resumed["evals"]] == [
        e["return_mean"] for e in straight["evals"]]
    assert len(list((tmp_path / "resumed").glob("buffer*.npz"))) == 1


def test_a_second_process_on_the_same_run_waits_for_the_first(tmp_path, capsys):
    """Two trainers of one run directory never write it together: the second waits."""
    import threading
    import time

    from dreamenv.behaviour.replay import claim_run

    first = claim_run(tmp_path, "SAC")
    done = threading.Event()
    thread = threading.Thread(target=lambda: (claim_run(tmp_path, "SAC").close(), done.set()))
    thread.start()
    time.sleep(0.3)
    assert not done.is_set()  # still waiting for the first
    first.close()
    thread.join(5)
    assert done.is_set()
    assert "another process is training" in capsys.readouterr().err
