"""The fall diagnosis on a short budget: its measurements are consistent with the real episodes."""

from __future__ import annotations

import json

import numpy as np

from dreamenv.behaviour import behaviour_policy
from dreamenv.evaluation.falls import diagnose, real_episodes, write_report


def test_real_episodes_layout():
    data = real_episodes(behaviour_policy("hopper", "medium", deterministic=True), 2, 0, 60)
    n = len(data["obs"])
    assert data["next_obs"].shape == (n, 11) and data["actions"].shape == (n, 3)
    ends = np.flatnonzero(data["steps_left"] == 1)
    assert len(ends) == 2 and ends[-1] == n - 1
    np.testing.assert_array_equal(data["obs"][1:ends[0] + 1], data["next_obs"][:ends[0]])
    assert data["start"][ends[0] + 1] == ends[0] + 1  # the second episode starts after it


def test_diagnosis_of_a_falling_policy(tmp_path):
    """The medium policy falls in both real episodes (seeds 0 and 1, before step 400); the
    shipped model, one step ahead from the real state, trips the rule on those transitions."""
    policy = behaviour_policy("hopper", "medium", deterministic=True)
    report = diagnose(policy, episodes=2, max_steps=1000, draws=2)
    assert report["real_falls"] == 2
    assert sum(report["real_reason"].values()) >= 1  # z, angle (or both) explain the falls
    assert report["fall_recall"] >= 0.5
    assert set(report["one_step_by_steps_to_fall"]) >= {"1-1", "2-5", ">100"}
    assert 0.0 <= report["false_fall_hazard_per_step"] <= 1.0
    error = report["one_step_error_over_std"]
    assert 0 < error["bias"] <= error["total"] < 0.2 and len(error["per_dim"]) == 11
    assert list(report["noise_floor"]) == ["0.0", "0.001", "0.003", "0.01", "0.03"]
    assert report["noise_floor"]["0.0"] == 1.0  # unkicked: both real episodes fall
    assert list(report["learned_noise_floor"]) == list(report["noise_floor"])
    closed = report["closed_loop"]
    assert closed["real_lengths"] == [int(n) for n in closed["real_lengths"]]
    assert max(closed["real_lengths"]) < 1000
    write_report(report, tmp_path, "medium")
    saved = json.loads((tmp_path / "falls-medium.json").read_text())
    assert "_trace" not in saved and (tmp_path / "falls-medium.png").stat().st_size > 0


def test_falls_command(tmp_path, capsys):
    from dreamenv.cli import main

    assert main(["falls", "medium", "--episodes", "1", "--draws", "1", "--out",
                 str(tmp_path)]) == 0
    assert "real falls 1/1" in capsys.readouterr().out
    assert (tmp_path / "falls-medium.png").exists()
    assert main(["falls", "nonsense", "--out", str(tmp_path)]) == 2


def test_noise_floor_brackets_the_real_falls():
    """Unkicked, the real env falls exactly as in its plain episodes (same seeds); kicks of half
    a state's spread every step fell every episode of even the expert."""
    from dreamenv.evaluation.falls import noise_floor

    expert = behaviour_policy("hopper", "expert", deterministic=True)
    real = real_episodes(expert, 2, 0, 150)
    floor = noise_floor(expert, np.ones(11), levels=(0.0, 0.5), episodes=2, max_steps=150)
    assert floor["0.0"] == real["terminal"].sum() / 2
    assert floor["0.5"] == 1.0


def test_learned_noise_floor_matches_plain_learned_episodes_unkicked():
    """Unkicked, the learned env falls as in its plain seed-matched episodes; kicks of half a
    state's spread every step fell every episode there too."""
    import gymnasium as gym

    from dreamenv.evaluation.falls import learned_noise_floor

    expert = behaviour_policy("hopper", "expert", deterministic=True)
    env = gym.make("DyDiff-Hopper", max_episode_steps=150, precision="float32")
    rng, falls = np.random.default_rng(0), 0
    for k in range(2):
        obs, _ = env.reset(seed=k)
        while True:
            obs, _, terminated, truncated, _ = env.step(expert.act(obs[None], rng)[0])
            if terminated or truncated:
                falls += int(terminated)
                break
    floor = learned_noise_floor(expert, None, np.ones(11), levels=(0.0, 0.5), episodes=2,
                                max_steps=150)
    assert floor["0.0"] == falls / 2
    assert floor["0.5"] == 1.0
