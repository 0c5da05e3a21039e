"""Termination: Hopper-v5's rule reproduces the real env's flags; the learned head learns it."""

from __future__ import annotations

import numpy as np

from dreamenv.models.termination import LearnedTermination, termination_for
from dreamenv.tasks.hopper import hopper_terminated


def test_hopper_rule_matches_the_real_env_on_real_data(hopper_random):
    a = hopper_random.arrays
    assert a["terminals"].sum() > 5
    np.testing.assert_array_equal(hopper_terminated(a["next_observations"]), a["terminals"])


def test_nan_state_counts_as_terminated():
    obs = np.zeros((1, 11))
    obs[0, 0] = np.nan
    assert hopper_terminated(obs).tolist() == [True]


def test_learned_head_separates_terminal_states(hopper_random):
    a = hopper_random.arrays
    head = LearnedTermination(11)
    accuracy = head.fit(a["next_observations"], a["terminals"], steps=1500)
    assert accuracy > 0.9
    assert termination_for("Hopper-v5") is hopper_terminated
    assert termination_for("Unknown-v0", head) is head
