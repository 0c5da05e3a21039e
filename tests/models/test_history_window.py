"""The rolling window: pushing keeps its length, including a window of no past transitions
(the ensemble's default), which once grew by one action per step and broke the next reset."""

import pytest
import torch

from dreamenv.models.history import History


@pytest.mark.parametrize("length", [0, 1, 3])
def test_push_keeps_the_window_length(length):
    window = History.start(torch.zeros(2, 3), history_len=length, action_dim=1)
    for step in range(1, 5):
        window = window.push(torch.full((2, 1), float(step)), torch.full((2, 3), float(step)))
        assert window.states.shape == (2, length + 1, 3)
        assert window.actions.shape == (2, length, 1)
        assert window.valid.shape == (2, length + 1)
    assert window.states[0, -1, 0] == 4.0
    if length:
        assert window.actions[0, -1, 0] == 4.0
