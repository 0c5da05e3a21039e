"""A tiny trajectory model end to end: `dreamenv rollouts` writes a synthetic D4RL file, and the
injection benchmark measures it against the real env."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dreamenv.behaviour import behaviour_policy
from dreamenv.cli import main
from dreamenv.datasets.hdf5 import load_hdf5
from dreamenv.models import load_checkpoint, pretrained_path
from dreamenv.tasks.hopper import hopper_terminated
from dreamenv.trajectories.truth import format_report, measure, write_report


@pytest.fixture
def trained(tiny_models):
    return tiny_models["trajectory"], tiny_models["data"]


def test_rollouts_command_writes_a_synthetic_dataset(trained, tmp_path, capsys):
    model_dir, data = trained
    out = tmp_path / "synthetic.hdf5"
    assert main(["rollouts", "--model", str(model_dir), "--policy", "expert", "--starts", "10",
                 "--horizon", "12", "--rounds", "1", "--keep", "0.6", "--out", str(out)]) == 0
    assert "6 of 10 trajectories kept" in capsys.readouterr().out
    synthetic = load_hdf5(out)
    meta = synthetic.metadata
    assert meta["synthetic"] is True and meta["generator"]["rounds"] == 1
    assert meta["generator"]["filter"] == {"keep": 0.6, "temperature": None}
    assert 6 <= len(synthetic) <= 6 * 12
    assert (synthetic["terminals"] | synthetic["timeouts"]).sum() == 6  # one end per trajectory
    assert main(["data", "info", str(out)]) == 0


@pytest.mark.parametrize("args, message", [
    (["--rounds", "21"], "rounds must be in"), (["--horizon", "1001"], "horizon must be in"),
    (["--model", "STEP"], "cannot denoise trajectories"),
])
def test_rollouts_bad_input(trained, tmp_path, capsys, args, message):
    model_dir, _ = trained
    args = [str(pretrained_path("hopper")) if a == "STEP" else a for a in args]
    base = {"--model": str(model_dir), "--policy": "expert", "--starts": "4", "--horizon": "5",
            "--out": str(tmp_path / "x.hdf5")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = ["rollouts"] + [x for kv in base.items() for x in kv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_injection_benchmark_on_a_tiny_model(trained, hopper_random, tmp_path):
    model_dir, _ = trained
    trajectory_model = load_checkpoint(model_dir)[0]
    step_model = load_checkpoint(pretrained_path("hopper"))[0]
    report = measure(trajectory_model, step_model, behaviour_policy("hopper", "expert", True),
                     hopper_random, "Hopper-v5", hopper_terminated, rounds=(0, 2), starts=6,
                     horizon=10)
    assert set(report["rows"]) == {"step-wise env", "DyDiff K=0", "DyDiff K=2"}
    # K = 0 is the start rollout in the step model: the step-wise env, the same numbers.
    assert report["rows"]["DyDiff K=0"]["error"] == report["rows"]["step-wise env"]["error"]
    assert len(report["rows"]["DyDiff K=2"]["action_error"]) == 2
    assert all(np.isfinite(v["rmse"]) for v in report["rows"]["DyDiff K=2"]["error"].values())
    assert "DyDiff K=2" in format_report(report)
    write_report(report, tmp_path)
    assert json.loads((tmp_path / "injection.json").read_text())["starts"] == 6
    assert (tmp_path / "injection.png").stat().st_size > 1000


def test_injection_benchmark_starts_in_the_ensemble(tiny_models, hopper_random):
    """DyDiff's start rollout runs in the given start model: with the ensemble there, K = 0 is
    the ensemble's closed-loop row, not the step-wise env's."""
    trajectory_model = load_checkpoint(tiny_models["trajectory"])[0]
    ensemble = load_checkpoint(tiny_models["ensemble"])[0]
    step_model = load_checkpoint(pretrained_path("hopper"))[0]
    report = measure(trajectory_model, step_model, behaviour_policy("hopper", "expert", True),
                     hopper_random, "Hopper-v5", hopper_terminated, rounds=(0,), starts=6,
                     horizon=10, others={"ensemble": ensemble}, start_model=ensemble)
    rows = report["rows"]
    assert rows["DyDiff K=0"]["error"] == rows["ensemble"]["error"]
    assert rows["DyDiff K=0"]["error"] != rows["step-wise env"]["error"]
