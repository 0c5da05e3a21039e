"""Episode boundaries and summaries on arrays small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dreamenv.datasets.dataset import DatasetError, OfflineDataset, fake_arrays


def test_episodes_from_terminals_and_timeouts():
    ds = OfflineDataset(fake_arrays(terminals=[0, 0, 1, 0, 0, 0, 0],
                                    timeouts=[0, 0, 0, 0, 1, 0, 0]))
    # Terminal at row 2, timeout at row 4, and an unfinished episode at the end.
    assert ds.episodes.tolist() == [[0, 3], [3, 5], [5, 7]]
    assert ds.episode_returns().tolist() == [3.0, 2.0, 2.0]


def test_summary_values_and_normalised_score():
    arrays = fake_arrays(terminals=[0, 1, 0, 0, 1], timeouts=[0, 0, 0, 0, 0])
    arrays["rewards"] = np.array([1, 2, 10, 20, 30], np.float32)
    s = OfflineDataset(arrays, {"env_id": "Hopper-v5"}).summary()
    assert s["transitions"] == 5 and s["episodes"] == 2 and s["terminals"] == 2
    assert s["return_mean"] == 31.5 and s["return_min"] == 3 and s["return_max"] == 60
    assert s["episode_length_mean"] == 2.5
    expected = 100 * (31.5 + 20.272305) / (3234.3 + 20.272305)
    assert s["normalized_score_mean"] == pytest.approx(expected)


def test_bad_arrays_are_refused_in_memory_too():
    arrays = fake_arrays(terminals=[0, 1], timeouts=[0, 0])
    arrays["observations"] = arrays["observations"][:, 0]
    with pytest.raises(DatasetError, match="'observations' has shape"):
        OfflineDataset(arrays)
