"""Seed-matched learned-vs-real comparison and DOPE's metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dreamenv.behaviour import behaviour_policy
from dreamenv.evaluation.compare import compare_policies, rank_metrics, spearman, write_report


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
    assert set(report["summary"]) >= {"spearman", "regret@1"}
    write_report(report, tmp_path)
    saved = json.loads((tmp_path / "compare.json").read_text())
    assert saved["policies"]["zeros"]["real_length"] <= 30
    assert (tmp_path / "compare.png").stat().st_size > 0
