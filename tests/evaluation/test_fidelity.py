"""The independent family and the fidelity benchmark: metrics on known values, a tiny family end
to end, and the shipped family's contract."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from dreamenv.behaviour.policy import TanhDeterministicActor, save_actor
from dreamenv.cli import main
from dreamenv.evaluation.compare import run_matched
from dreamenv.evaluation.family import build_family, load_family
from dreamenv.evaluation.fidelity import (
    bootstrap_rank_metrics,
    fall_fidelity,
    ks_two_sample,
    learned_episodes,
    run_fidelity,
    score,
    write_report,
)


def test_ks_statistic_on_known_values():
    assert ks_two_sample(np.array([1, 2, 3]), np.array([2, 3, 4]))[0] == pytest.approx(1 / 3)
    same_d, same_p = ks_two_sample(np.arange(20), np.arange(20))
    far_d, far_p = ks_two_sample(np.full(20, 100), np.full(20, 1000))
    assert (same_d, far_d) == (0.0, 1.0)
    assert same_p == 1.0 and far_p < 1e-6


def test_fall_fractions_and_gaps():
    real = np.array([[1000, 1000, 1000, 1000], [300, 400, 500, 1000]])
    learned = np.array([[1000, 1000, 200, 1000], [1000, 1000, 1000, 1000]])
    falls = fall_fidelity(real, learned, max_steps=1000)
    assert falls["real_fall_fraction"] == [0.0, 0.75]
    assert falls["learned_fall_fraction"] == [0.25, 0.0]
    assert falls["fall_fraction_gap"] == [0.25, 0.75]
    assert falls["length_ks"] == [0.25, 0.75]


def test_bootstrap_of_a_perfect_model_is_degenerate():
    real = np.array([[10.0, 12.0], [100.0, 90.0], [500.0, 520.0]])
    m = bootstrap_rank_metrics(real, real.copy(), samples=50)
    for key, expected in (("spearman", 1.0), ("regret@1", 0.0),
                          ("normalised_abs_error_mean", 0.0)):
        assert m[key]["value"] == m[key]["low"] == m[key]["high"] == pytest.approx(expected)


def test_bootstrap_interval_contains_the_point_value_and_regret_by_hand():
    rng = np.random.default_rng(0)
    real = np.array([100.0, 200.0, 300.0])[:, None] + rng.normal(0, 30, (3, 10))
    learned = real[[0, 2, 1]] + 5.0  # the two best swapped: the learned env picks the 200 one
    m = bootstrap_rank_metrics(real, learned, samples=200)
    assert m["spearman"]["low"] <= m["spearman"]["value"] <= m["spearman"]["high"]
    best, chosen = real.mean(1).max(), real.mean(1)[1]
    assert m["regret@1"]["value"] == pytest.approx((best - chosen) / best)


def test_targets_are_judged_per_lineage():
    real = np.array([[0.0] * 4, [100.0] * 4, [0.0] * 4, [100.0] * 4])
    lengths_real = np.array([[50] * 4, [1000] * 4, [50] * 4, [1000] * 4])
    lengths_learned = lengths_real.copy()
    lengths_learned[3] = [1000, 1000, 300, 300]  # lineage b's good policy falls half the time
    report = score(real, real.copy(), lengths_real, lengths_learned, ["a", "a", "b", "b"],
                   max_steps=1000, samples=20)
    assert set(report["groups"]) == {"a", "b", "pooled"}
    assert report["groups"]["a"]["meets_targets"]
    assert report["groups"]["b"]["fall_fraction_gap_max"]["value"] == 0.5
    assert not report["groups"]["b"]["meets_targets"] and not report["meets_targets"]


@pytest.fixture(scope="module")
def tiny_family(tmp_path_factory):
    """Two lineages of three random-weight TD3 actors each, as finished runs, graded into a
    family of 2 real episodes of at most 40 steps."""
    root = tmp_path_factory.mktemp("family")
    runs = {}
    for lineage, seed in (("a", 0), ("b", 1)):
        run = root / lineage
        (run / "snapshots").mkdir(parents=True)
        torch.manual_seed(seed)
        evals = []
        for step, ret in ((1000, 5.0), (2000, 50.0), (3000, 80.0)):
            save_actor(TanhDeterministicActor(11, 3, (8,)),
                       run / "snapshots" / f"step_{step:07d}.safetensors", "Hopper-v5", step=step)
            evals.append({"step": step, "return_mean": ret})
        (run / "checkpoint.json").write_text(json.dumps(
            {"config": {"env_id": "Hopper-v5"}, "evals": evals}))
        runs[lineage] = run
    build_family(runs, root / "family", per_lineage=3, episodes=2, max_steps=40)
    return root / "family"


def test_family_round_trip_matches_the_real_env(tiny_family):
    family = load_family(tiny_family)
    assert [p.name for p in family.policies] == [
        "a-001k", "a-002k", "a-003k", "b-001k", "b-002k", "b-003k"]
    real_env = gym.make_vec("Hopper-v5", num_envs=2, vectorization_mode="sync",
                            max_episode_steps=40)
    returns, lengths, _ = run_matched(real_env, family.policies[4].policy, 0, 40)
    np.testing.assert_allclose(family.policies[4].real_returns, returns, atol=1e-3)
    np.testing.assert_array_equal(family.policies[4].real_lengths, lengths)


def test_learned_episodes_in_one_batch_equal_each_policy_alone(tiny_family):
    family = load_family(tiny_family)
    kwargs = {"precision": "float32"}
    returns, lengths = learned_episodes(family, env_kwargs=kwargs)
    assert returns.shape == lengths.shape == (6, 2) and (lengths <= 40).all()
    alone = gym.make_vec("DyDiff-Hopper", num_envs=2, max_episode_steps=40, **kwargs)
    for i in (0, 5):
        r, n, _ = run_matched(alone, family.policies[i].policy, 0, 40)
        np.testing.assert_allclose(returns[i], r, rtol=1e-5)
        np.testing.assert_array_equal(lengths[i], n)


def test_report_and_cli_on_a_tiny_family(tiny_family, tmp_path, capsys):
    family = load_family(tiny_family)
    report = run_fidelity({"shipped": None}, family, {"precision": "float32"}, samples=20)
    groups = report["models"]["shipped"]["score"]["groups"]
    assert set(groups) == {"a", "b", "pooled"}
    write_report(report, tmp_path / "direct")
    assert (tmp_path / "direct" / "fidelity.png").stat().st_size > 0

    assert main(["fidelity", "shipped", "--family", str(tiny_family), "--out",
                 str(tmp_path / "cli"), "--bootstrap", "20"]) == 0
    saved = json.loads((tmp_path / "cli" / "fidelity.json").read_text())
    assert saved["models"]["shipped"]["learned_returns"] == \
        report["models"]["shipped"]["learned_returns"]
    assert "pooled" in capsys.readouterr().out


def test_bad_family_files_are_one_line_errors(tiny_family, tmp_path, capsys):
    assert main(["fidelity", "--family", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no family here" in capsys.readouterr().err
    broken = tmp_path / "broken"
    broken.mkdir()
    spec = json.loads((tiny_family / "family.json").read_text())
    spec["policies"][0]["real_lengths"] = spec["policies"][0]["real_lengths"][:1]
    (broken / "family.json").write_text(json.dumps(spec))
    for f in tiny_family.glob("*.safetensors"):
        (broken / f.name).write_bytes(f.read_bytes())
    with pytest.raises(ValueError, match="1 lengths for 2 episodes"):
        load_family(broken)


def test_shipped_family_is_independent_and_graded():
    family = load_family()
    assert len(family.policies) >= 12 and len({p.lineage for p in family.policies}) >= 2
    for lineage in family.lineages.values():
        assert lineage["config"]["seed"] not in (1, 2)  # the behaviour and `other` SAC runs
    means = np.array([p.real_returns.mean() for p in family.policies])
    assert means.min() < 100 and means.max() > 3000  # near-random to expert
    falls = np.array([(p.real_lengths < family.max_steps).mean() for p in family.policies])
    assert ((falls > 0) & (means > 500)).any()  # some fall mid-episode
