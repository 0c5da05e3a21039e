"""Per-dimension standardisation, kept as buffers so it travels with the weights."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

MIN_STD = 1e-6


class Normalizer(nn.Module):
    """``normalize(x) = (x - mean) / std`` per last dimension; ``denormalize`` inverts it.

    Examples:
        >>> n = Normalizer.fit(np.array([[0.0, 10.0], [2.0, 30.0]]))
        >>> n.normalize(torch.tensor([[1.0, 20.0]])).tolist()
        [[0.0, 0.0]]
    """

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float().clamp_min(MIN_STD))

    @classmethod
    def fit(cls, data: np.ndarray) -> Normalizer:
        data = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
        return cls(torch.as_tensor(data.mean(0)), torch.as_tensor(data.std(0)))

    @classmethod
    def empty(cls, dim: int) -> Normalizer:
        """A placeholder of the right size, to be filled by ``load_state_dict``."""
        return cls(torch.zeros(dim), torch.ones(dim))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
