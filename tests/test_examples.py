"""The examples a user copies run as written."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_env(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart_env.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert "steps, return" in out[0]
    assert out[1] == "DreamVectorEnv (1024, 11) (1024,)"


def test_sac_in_imagination_runs_and_evaluates_in_the_real_env(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["sac_in_imagination.py", "--steps", "300", "--start-steps",
                                     "100", "--num-envs", "4", "--eval-every", "300",
                                     "--eval-episodes", "1"])
    runpy.run_path(str(EXAMPLES / "sac_in_imagination.py"), run_name="__main__")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "imagined steps" in last and "real Hopper-v5 return" in last


def test_multiagent_hopper(capsys):
    import pytest

    pytest.importorskip("pettingzoo")
    runpy.run_path(str(EXAMPLES / "multiagent_hopper.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("medium policy as a 3-agent team: learned return")
    assert out[1] == "DreamParallelVecEnv {'agent_0': (256, 8), 'agent_1': (256, 9), " \
                     "'agent_2': (256, 8)}"


def test_bring_your_own_data(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("sys.argv", ["bring_your_own_data.py", "--transitions", "1500",
                                     "--train-steps", "40", "--episodes", "2",
                                     "--out", str(tmp_path)])
    runpy.run_path(str(EXAMPLES / "bring_your_own_data.py"), run_name="__main__")
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-3].startswith("DyDiff learned InvertedPendulum-v5: obs (4,), action (1,)")
    assert "termination learned" in out[-3]
    assert out[-2].strip().startswith("real: return") and out[-1].strip().startswith("learned")


def test_ppo_on_tensors_trains_on_the_device_and_evaluates_in_the_real_env(capsys, monkeypatch):
    monkeypatch.setattr("sys.argv", ["ppo_on_tensors.py", "--iterations", "2", "--num-envs",
                                     "8", "--rollout", "16", "--eval-every", "2",
                                     "--eval-episodes", "1"])
    runpy.run_path(str(EXAMPLES / "ppo_on_tensors.py"), run_name="__main__")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("iteration 2: 256 imagined steps") and "real Hopper-v5 return" in last
