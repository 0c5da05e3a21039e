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


class StateBounds(nn.Module):
    """Clamp predicted states to the training data's range, widened by ``margin`` of it.

    A model rolled out far from its data can run a state off to 1e30 within a few steps; no real
    state lies there, and clamping keeps a diverging imagined episode finite (the task's
    termination rule then usually ends it) without touching in-range predictions.

    Examples:
        >>> b = StateBounds.fit(np.array([[0.0], [10.0]]), margin=0.1)
        >>> b.clamp(torch.tensor([[-5.0], [5.0], [50.0]])).flatten().tolist()
        [-1.0, 5.0, 11.0]
    """

    def __init__(self, low: torch.Tensor, high: torch.Tensor):
        super().__init__()
        self.register_buffer("low", low.float())
        self.register_buffer("high", high.float())

    @classmethod
    def fit(cls, data: np.ndarray, margin: float = 0.1) -> StateBounds:
        data = np.asarray(data, dtype=np.float64)
        lo, hi = data.min(0), data.max(0)
        pad = margin * (hi - lo)
        return cls(torch.as_tensor(lo - pad), torch.as_tensor(hi + pad))

    @classmethod
    def empty(cls, dim: int) -> StateBounds:
        return cls(torch.full((dim,), -torch.inf), torch.full((dim,), torch.inf))

    def clamp(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(torch.minimum(x, self.high), self.low)
