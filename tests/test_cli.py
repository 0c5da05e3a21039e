"""One smoke test per CLI command with a tiny budget, and the one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dreamenv.behaviour.policy import RandomPolicy
from dreamenv.cli import main
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.datasets.rollout import collect


def test_console_script_lists_subcommands():
    beside_python = Path(sys.executable).parent / "dreamenv"
    exe = str(beside_python) if beside_python.exists() else shutil.which("dreamenv")
    assert exe, "the dreamenv console script is not installed (pip install -e .)"
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "data" in out and "behaviour" in out
    out = subprocess.run([exe, "data", "--help"], capture_output=True, text=True).stdout
    for sub in ("make", "info", "list", "export-minari", "import-minari"):
        assert sub in out


def test_data_make_then_info(capsys, isolated_data_dir):
    assert main(["data", "make", "hopper-random", "--steps", "250", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["transitions"] == 250 and made["file"].startswith(str(isolated_data_dir))
    assert main(["data", "info", made["file"], "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["transitions"] == 250 and info["episodes"] == made["episodes"]
    assert "normalized_score_mean" in info
    assert main(["data", "list"]) == 0
    assert "hopper-medium-replay" in capsys.readouterr().out


@pytest.mark.parametrize("content", [b"", b"\x89HDF\r\n\x1a\n garbage", b"not hdf5 at all"])
def test_data_info_on_a_bad_file_is_one_line(tmp_path, capsys, content):
    bad = tmp_path / "bad.hdf5"
    bad.write_bytes(content)
    assert main(["data", "info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamenv: error:") and "bad.hdf5" in err and "\n" not in err


def test_unknown_dataset_name_is_one_line(capsys):
    assert main(["data", "make", "hopper-legendary"]) == 2
    assert "unknown dataset" in capsys.readouterr().err


def test_minari_export_import_round_trip(tmp_path, capsys):
    assert main(["data", "make", "hopper-random", "--steps", "200", "--json"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert main(["data", "export-minari", made["file"], "--id", "dreamenv/cli-test-v0"]) == 0
    out = tmp_path / "back.hdf5"
    assert main(["data", "import-minari", "dreamenv/cli-test-v0", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["data", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["transitions"] == 200


def test_behaviour_train_tiny(tmp_path, capsys):
    args = ["behaviour", "train", "--total-steps", "200", "--learning-starts", "100",
            "--eval-every", "200", "--checkpoint-every", "200", "--batch-size", "16",
            "--hidden", "16", "--eval-episodes", "1", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    assert (tmp_path / "run" / "snapshots" / "step_0000200.safetensors").exists()
    assert "run directory" in capsys.readouterr().out


def test_train_and_evaluate_model_tiny(hopper_random, tmp_path, capsys):
    from dreamenv.behaviour.policy import TanhGaussianActor, save_actor
    from dreamenv.datasets.hdf5 import save_hdf5

    data = save_hdf5(hopper_random, tmp_path / "data.hdf5")
    common = ["--dataset", str(data), "--threads", "1", "--holdout-fraction", "0.2",
              "--batch-size", "16"]
    assert main(["train", "--model", "diffusion", "--out", str(tmp_path / "diff"), *common,
                 "--diffusion-steps", "30", "--eval-every", "10", "--checkpoint-every", "10",
                 "--diffusion-hidden", "16", "--diffusion-encoder-layers", "1"]) == 0
    assert main(["train", "--model", "ensemble", "--out", str(tmp_path / "ens"), *common,
                 "--ensemble-max-epochs", "2", "--ensemble-hidden", "8",
                 "--ensemble-members", "3", "--ensemble-elites", "2"]) == 0
    policy = tmp_path / "policy.safetensors"
    save_actor(TanhGaussianActor(11, 3, (8,)), policy, "Hopper-v5", step=0)
    assert main(["evaluate-model", str(tmp_path / "diff"), str(tmp_path / "ens"),
                 "--out", str(tmp_path / "eval"), "--policy", str(policy), "--starts", "16",
                 "--other-steps", "300"]) == 0
    out = capsys.readouterr().out
    assert "h=200" in out and "ensemble ens (sample)" in out and "ensemble ens (mean)" in out
    assert "diffusion diff (sampled" in out and "diffusion diff (mean of 16" in out
    report = json.loads((tmp_path / "eval" / "accuracy.json").read_text())
    assert set(report["results"]) == {"held-out episodes (in data)",
                                      "other policy (not in data)"}
    assert report["same_data_as_training"] is True
    assert (tmp_path / "eval" / "accuracy.png").stat().st_size > 1000

    # Held-out episodes of another dataset are labelled as that dataset's, not "in data".
    other = collect(RandomPolicy(-np.ones(3), np.ones(3)), "Hopper-v5", 300, seed=7, n_envs=2)
    other_file = save_hdf5(OfflineDataset(other, {"env_id": "Hopper-v5"}), tmp_path / "o.hdf5")
    assert main(["evaluate-model", str(tmp_path / "diff"), "--out", str(tmp_path / "eval2"),
                 "--dataset", str(other_file), "--policy", str(policy), "--starts", "8",
                 "--other-steps", "300", "--mean-samples", "0"]) == 0
    report = json.loads((tmp_path / "eval2" / "accuracy.json").read_text())
    assert report["same_data_as_training"] is False
    assert set(report["results"]) == {"held-out episodes of o.hdf5 (another dataset)",
                                      "other policy (not in data)"}


def test_evaluate_model_without_a_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["evaluate-model", str(tmp_path / "nothing"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a model checkpoint" in err and "\n" not in err.strip()


def test_imagine_takes_the_task_recipe_where_no_option_is_given(monkeypatch):
    pytest.importorskip("ray")
    import dataclasses

    import dreamenv.integrations.imagine as imagine
    from dreamenv.tasks import TASKS

    recipe = (("ppo_hidden", 32), ("gamma", 0.9))
    monkeypatch.setitem(TASKS, "walker2d",
                        dataclasses.replace(TASKS["walker2d"], imagine_options=recipe))
    seen = []
    monkeypatch.setattr(imagine, "run_imagine", lambda cfg, out: seen.append(cfg) or {})
    monkeypatch.setattr(imagine, "format_summary", lambda report: "")
    assert main(["imagine", "--task", "walker2d", "--gamma", "0.95", "--out", "x"]) == 0
    cfg = seen[-1]  # the recipe's width, the command line's discount, the rest the defaults
    assert (cfg.task, cfg.ppo_hidden, cfg.gamma) == ("walker2d", 32, 0.95)
    assert dataclasses.replace(cfg, task="hopper", ppo_hidden=64, gamma=0.99) == \
        imagine.ImagineConfig()
    assert main(["imagine", "--out", "x"]) == 0
    assert seen[-1] == imagine.ImagineConfig(**dict(TASKS["hopper"].imagine_options))
    # A team takes no recipe: the recipes are single-agent PPO, whose observation normalisation
    # and reward scale a team refuses.
    assert main(["imagine", "--task", "walker2d", "--agent-conf", "2x3", "--out", "x"]) == 0
    assert seen[-1] == imagine.ImagineConfig(task="walker2d", agent_conf="2x3")
    assert main(["imagine", "--task", "walker2d", "--no-recipe", "--out", "x"]) == 0
    assert seen[-1] == imagine.ImagineConfig(task="walker2d")  # as before recipes existed
