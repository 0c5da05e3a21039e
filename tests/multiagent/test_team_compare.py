"""Joint policies as MaMuJoCo teams: learned-vs-real through the PettingZoo envs."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("gymnasium_robotics")

from dreamenv.cli import main  # noqa: E402
from dreamenv.evaluation.compare import compare_policies  # noqa: E402
from dreamenv.evaluation.policies import load_policy  # noqa: E402
from dreamenv.multiagent.compare import compare_joint_policies  # noqa: E402


def test_teams_earn_what_the_joint_policy_earns_in_the_single_agent_envs():
    """Split into agents and joined again, a policy's episodes are the single-agent ones, in
    the learned env and in real MaMuJoCo (which wraps Hopper-v5) alike."""
    policies = dict(load_policy(spec, "hopper") for spec in ("random", "medium"))
    team = compare_joint_policies(policies, "3x1", episodes=2, max_steps=40)
    single = compare_policies(policies, episodes=2, max_steps=40)
    assert team["agents"] == ["agent_0", "agent_1", "agent_2"]
    for name in policies:
        for key in ("real_return", "learned_return", "real_length", "learned_length"):
            assert team["policies"][name][key] == pytest.approx(single["policies"][name][key],
                                                                rel=1e-6), (name, key)


def test_compare_command_plays_policies_as_teams(tmp_path, capsys):
    main(["compare", "random", "medium", "--agent-conf", "3x1", "--episodes", "2",
          "--max-steps", "25", "--out", str(tmp_path)])
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["env_id"] == "MaMuJoCo Hopper 3x1" and set(report["policies"]) == {
        "random", "medium"}
    assert (tmp_path / "compare.png").exists()
    assert "spearman" in capsys.readouterr().out


def test_compare_command_refuses_an_unknown_factorisation_in_one_line(tmp_path, capsys):
    assert main(["compare", "random", "--agent-conf", "2x2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamenv: error: MaMuJoCo refused the factorisation 'Hopper' '2x2'")
    assert "\n" not in err
