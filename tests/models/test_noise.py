"""Per-row noise streams: a row's numbers depend only on its key and how many it has drawn."""

from __future__ import annotations

import numpy as np
import torch

from dreamenv.models.noise import DRAW_AHEAD, RowNoise


def test_a_single_stream_drawn_ahead_gives_the_batch_rows_numbers():
    """A one-row CPU source hands out normals it drew ahead; they must be the numbers the same
    key gives as a row of a batch, through block ends, a reseed, other draws and sizes."""
    for key in (0, 7, 2**63 + 5):
        single = RowNoise(np.array([key], dtype=np.uint64))
        batch = RowNoise(np.array([key, 1], dtype=np.uint64))
        for call in range(3 * DRAW_AHEAD):
            size = 5 if call % 50 == 49 else 67
            assert torch.equal(single.randn((1, size)), batch.randn((2, size))[:1]), call
            if call == 70:  # an env reset with the same seed: the stream starts again
                single.reseed(slice(None), np.array([key], dtype=np.uint64))
                batch.reseed(slice(0, 1), np.array([key], dtype=np.uint64))
            if call == 90:  # a draw of another kind in between advances the stream
                assert np.array_equal(single.uniform((1, 3)), batch.uniform((2, 3))[:1])
            if call == 120:  # a new key
                single.reseed(slice(None), np.array([key + 1], dtype=np.uint64))
                batch.reseed(slice(0, 1), np.array([key + 1], dtype=np.uint64))
        assert single.counters[0] == batch.counters[0]
