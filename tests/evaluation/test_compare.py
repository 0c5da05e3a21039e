"""Seed-matched learned-vs-real comparison and DOPE's metrics."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from dreamenv.behaviour import behaviour_policy
from dreamenv.evaluation.compare import (compare_policies, rank_metrics, run_matched, spearman,
                                         write_report)


def test_rank_metrics_on_known_values():
    real = np.array([0.0, 50.0, 100.0])
    assert rank_metrics(real, real) == pytest.approx(
        {"spearman": 1.0, "regret@1": 0.0, "normalised_abs_error_mean": 0.0,
         "relative_return_error_median": 0.0})
    swapped = rank_metrics(real, np.array([0.0, 100.0, 50.0]))
    assert swapped["regret@1"] == pytest.approx(0.5)  # picks the 50-return policy
    assert swapped["spearman"] == pytest.approx(0.5)
    assert spearman(np.array([1.0, 2.0]), np.array([3.0, 3.0])) != spearman(
        np.array([1.0, 2.0]), np.array([3.0, 3.0]))  # undefined (NaN) when one side ties


def test_compare_two_tiny_policies(tmp_path):
    """Two policies, two seed-matched episodes of at most 30 steps each: a callable and a
    shipped policy; returns are finite, the episodes start from the same states."""
    medium = behaviour_policy("hopper", "medium", deterministic=True)
    policies = {"zeros": lambda obs: np.zeros((len(obs), 3)), "medium": medium}
    report = compare_policies(policies, episodes=2, seed=0, max_steps=30)
    for p in report["policies"].values():
        assert np.isfinite([p["real_return"], p["learned_return"]]).all()
        assert p["state_rmse"][1] < 0.5  # one step from the same start state
        for env in ("real", "learned"):  # per episode: returns and the largest |state|
            assert np.isclose(np.mean(p[f"{env}_returns"]), p[f"{env}_return"])
            extremes = np.array(p[f"{env}_max_abs_state"])
            assert extremes.shape == (2, 11) and (extremes >= 0).all()
    assert set(report["summary"]) >= {"spearman", "regret@1"}
    write_report(report, tmp_path)
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["policies"]["zeros"]["real_length"] <= 30
    assert (tmp_path / "compare.png").stat().st_size > 0


def test_run_matched_collects_an_info_value_per_step():
    """``info_key``: the value of every step an episode is alive, NaN after it ends."""
    env = gym.make_vec("DyDiff-Hopper", num_envs=2, max_episode_steps=15)
    returns, lengths, _, uncertainty = run_matched(env, lambda obs: np.zeros((len(obs), 3)), 0,
                                                   20, info_key="uncertainty")
    assert uncertainty.shape == (2, 20) and (lengths == 15).all()
    assert (uncertainty[:, :15] >= 0).all() and np.isnan(uncertainty[:, 15:]).all()
    assert np.array_equal(returns, run_matched(env, lambda obs: np.zeros((len(obs), 3)), 0,
                                               20)[0])


def zero_policy(obs):
    """Importable by spec (tests.evaluation.test_compare:zero_policy) in the CLI test."""
    return np.zeros((len(obs), 3))


def test_policy_specs(tmp_path):
    from dreamenv.behaviour.policy import TanhGaussianActor, save_actor
    from dreamenv.evaluation.policies import NoisyPolicy, load_policy

    assert load_policy("random")[0] == "random"
    label, noisy = load_policy("shaky=expert+0.5")
    assert label == "shaky" and isinstance(noisy, NoisyPolicy) and noisy.sigma == 0.5
    obs = np.zeros((4, 11))
    acts = noisy.act(obs, np.random.default_rng(0))
    assert acts.shape == (4, 3) and np.abs(acts).max() <= 1.0
    actor_file = tmp_path / "step_0100.safetensors"
    save_actor(TanhGaussianActor(11, 3, (8,)), actor_file, "Hopper-v5", step=100)
    assert load_policy(str(actor_file))[0] == "step_0100"
    assert load_policy("tests.evaluation.test_compare:zero_policy")[1].__name__ == "zero_policy"
    for bad, message in [("nonsense", "not a level"), ("expert+x", "not a number"),
                         ("expert+-1", ">= 0"), ("=medium", "both parts"),
                         ("math:nothing_here", "cannot import"), ("math:pi", "neither")]:
        with pytest.raises(ValueError, match=message):
            load_policy(bad)
    with pytest.raises(ValueError, match="Walker"):  # an actor for another env
        other = tmp_path / "walker.safetensors"
        save_actor(TanhGaussianActor(17, 6, (8,)), other, "Walker2d-v5", step=0)
        load_policy(str(other))


def test_compare_cli(tmp_path, capsys):
    from dreamenv.cli import main

    assert main(["compare", "random", "zeros=tests.evaluation.test_compare:zero_policy",
                 "--episodes", "2", "--max-steps", "20", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "spearman" in out and "zeros" in out
    report = json.loads((tmp_path / "compare.json").read_text())
    assert set(report["policies"]) == {"random", "zeros"}
    assert report["specs"][1].startswith("zeros=")
    assert main(["compare", "random", "random", "--out", str(tmp_path)]) == 2
    assert "same label" in capsys.readouterr().err


def test_compare_cli_samples_with_the_denoising_steps_asked_for(tmp_path, monkeypatch):
    """--denoising-steps reaches the learned env (one step differs from the model's two), and
    is refused for teams, whose env does not take it."""
    import dreamenv.evaluation.compare as compare
    from dreamenv.cli import main

    made = []
    make_vec = compare.gym.make_vec

    def spy(env_id, **kwargs):
        made.append(kwargs)
        return make_vec(env_id, **kwargs)

    monkeypatch.setattr(compare.gym, "make_vec", spy)
    assert main(["compare", "zeros=tests.evaluation.test_compare:zero_policy", "--episodes", "1",
                 "--max-steps", "5", "--denoising-steps", "1", "--out", str(tmp_path)]) == 0
    assert made[0]["denoising_steps"] == 1  # the learned env is made first
    assert main(["compare", "random", "--agent-conf", "3x1", "--denoising-steps", "3",
                 "--out", str(tmp_path)]) == 2
