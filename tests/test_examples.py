"""The examples a user copies run as written."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture
def run_example(capsys, monkeypatch):
    """Run ``examples/NAME`` as a script with ``args``; returns its printed lines."""
    def run(name: str, *args: str) -> list[str]:
        monkeypatch.setattr("sys.argv", [name, *args])
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
        return capsys.readouterr().out.strip().splitlines()
    return run


def test_quickstart_env(run_example):
    out = run_example("quickstart_env.py")
    assert "steps, return" in out[0]
    assert out[1] == "DreamVectorEnv (1024, 11) (1024,)"


def test_sac_in_imagination_runs_and_evaluates_in_the_real_env(run_example):
    last = run_example("sac_in_imagination.py", "--steps", "300", "--start-steps", "100",
                       "--num-envs", "4", "--eval-every", "300", "--eval-episodes", "1")[-1]
    assert "imagined steps" in last and "real Hopper-v5 return" in last


def test_multiagent_hopper(run_example):
    pytest.importorskip("pettingzoo")
    out = run_example("multiagent_hopper.py")
    assert out[0].startswith("medium policy as a 3-agent team: learned return")
    assert out[1] == "DreamParallelVecEnv {'agent_0': (256, 8), 'agent_1': (256, 9), " \
                     "'agent_2': (256, 8)}"


def test_bring_your_own_data(run_example, tmp_path):
    out = run_example("bring_your_own_data.py", "--transitions", "1500", "--train-steps", "40",
                      "--episodes", "2", "--out", str(tmp_path))
    assert out[-3].startswith("DyDiff learned InvertedPendulum-v5: obs (4,), action (1,)")
    assert "termination learned" in out[-3]
    assert out[-2].strip().startswith("real: return") and out[-1].strip().startswith("learned")


def test_ppo_on_tensors_trains_on_the_device_and_evaluates_in_the_real_env(run_example):
    last = run_example("ppo_on_tensors.py", "--iterations", "2", "--num-envs", "8", "--rollout",
                       "16", "--eval-every", "2", "--eval-episodes", "1",
                       "--uncertainty-penalty", "0.5")[-1]
    assert last.startswith("iteration 2: 256 imagined steps") and "real Hopper-v5 return" in last
