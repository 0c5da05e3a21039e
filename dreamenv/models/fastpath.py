"""The sampling fast path: the diffusion model's networks prepared once for inference.

An env step at batch 1 costs what its small torch ops cost, not their arithmetic; at batch 1024 it
costs matmuls. So the sampling path

1. folds everything that depends only on a sampling level (EDM's scalings, the noise embedding,
   ``c_in``) into that level's first-layer weight and bias, computed once per level;
2. keeps transposed weights ready in the chosen precision: ``bfloat16`` matmuls are about twice
   as fast as ``float32`` on CPUs with AVX512-BF16, and their rounding is row-wise, so a row's
   result does not depend on its batch;
3. calls functional ops instead of ``nn.Module.__call__``.

:class:`NumpyPlan` is the float32 plan's arrays as NumPy arrays, for the small CPU batches of
single envs: a NumPy call on a 256-wide row costs about 1 us where a torch op costs about 5, and
a step at batch 1 is some 60 such calls.

Both compute the same function as the training-path ``forward`` (checked to float tolerance in
``tests/models/test_fastpath.py``). A plan is rebuilt whenever a weight changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from types import ModuleType

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dreamenv.models.denoiser import ContextEncoder, Denoiser

PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def _prepared(layer: nn.Linear, dtype: torch.dtype, scale: float = 1.0
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(scale * W^T, scale * b)`` of ``layer`` in ``dtype``, for ``torch.addmm``."""
    weight = (layer.weight.detach() * scale).t().contiguous().to(dtype)
    bias = None if layer.bias is None else (layer.bias.detach() * scale).to(dtype)
    return weight, bias


@dataclass
class Level:
    """One sampling level: ``D(x) = c_skip x + c_out F(x)`` with ``F``'s first layer folded."""

    c_skip: float
    c_out: float
    w_in: torch.Tensor  # (D, H): (c_in * W_x)^T
    bias: torch.Tensor  # (H,): b_x + the level's noise-embedding term


@dataclass
class Standardisation:
    """A model's state normaliser, target normaliser and state bounds, as arrays of one
    backend: what sampling needs besides the networks."""

    state_mean: object
    state_std: object
    target_mean: object
    target_std: object
    low: object
    high: object

    def numpy(self) -> Standardisation:
        return Standardisation(*(t.detach().cpu().numpy().copy() for t in vars(self).values()))


@dataclass
class SamplingPlan:
    """The encoder and denoiser of one model, prepared for sampling in ``dtype``; ``norms`` are
    its normalisers and bounds (torch), for the sampler's input and output."""

    encoder: ContextEncoder
    denoiser: Denoiser
    dtype: torch.dtype
    norms: Standardisation | None = None
    xp: ModuleType = field(init=False, default=torch)
    """The array module the plan computes in: ``predict`` is written once for both."""
    encoder_layers: list = field(init=False)
    cond: torch.Tensor = field(init=False)
    blocks: list = field(init=False)
    out: tuple = field(init=False)
    levels: dict[float, Level] = field(init=False, default_factory=dict)
    relu: bool = field(init=False)
    """ReLU networks (else SiLU)."""

    def __post_init__(self) -> None:
        self.relu = isinstance(self.denoiser.act, nn.ReLU)
        with torch.no_grad():
            self.encoder_layers = [_prepared(m, self.dtype) for m in self.encoder.net
                                   if isinstance(m, nn.Linear)]
            self.cond = _prepared(self.denoiser.in_cond, self.dtype)[0]
            self.blocks = [_prepared(m, self.dtype) for m in self.denoiser.blocks]
            self.out = _prepared(self.denoiser.out, self.dtype)

    def condition(self, tokens: torch.Tensor) -> torch.Tensor:
        """Context tokens ``(B, W)`` (``ContextEncoder.tokens``) -> ``(B, H)`` first-layer term."""
        h = tokens.to(self.dtype)
        for weight, bias in self.encoder_layers:
            h = self._act(torch.addmm(bias, h, weight))
        return h @ self.cond

    def denoise(self, x: torch.Tensor, sigma: float, cond: torch.Tensor) -> torch.Tensor:
        """The denoiser at one float level: ``(B, D)`` float32 in and out."""
        level = self.levels.get(sigma) or self._level(sigma)
        h = self._act(torch.addmm(cond + level.bias, x.to(self.dtype), level.w_in))
        for weight, bias in self.blocks:
            h += self._act(torch.addmm(bias, h, weight))
        out = torch.addmm(self.out[1], h, self.out[0]).float()
        return torch.add(out * level.c_out, x, alpha=level.c_skip)

    def _act(self, z: torch.Tensor) -> torch.Tensor:
        """The activation, in place on a new pre-activation ``z`` (at 1024 rows allocating its
        result would cost as much as a SiLU)."""
        return z.relu_() if self.relu else F.silu(z, inplace=True)

    def _level(self, sigma: float) -> Level:
        den = self.denoiser
        with torch.no_grad():
            c_skip, c_out, c_in, c_noise = den.schedule.scalings(torch.tensor([sigma]))
            w_in = _prepared(den.in_x, self.dtype, scale=c_in.item())[0]
            bias = (den.in_x.bias + den.noise_embedding(c_noise[:, None])[0]).to(self.dtype)
        self.levels[sigma] = Level(c_skip.item(), c_out.item(), w_in, bias)
        return self.levels[sigma]

    @staticmethod
    def array(tensor: torch.Tensor) -> torch.Tensor:
        """A model input in this plan's array type (torch: itself)."""
        return tensor

    @staticmethod
    def scalar(value: float) -> float:
        """A constant as this plan's float32 scalar (torch: a Python float)."""
        return value

    @staticmethod
    def tensor(array: torch.Tensor) -> torch.Tensor:
        """A result as a torch tensor (torch: itself)."""
        return array


@dataclass
class NumpyPlan:
    """A float32 :class:`SamplingPlan` in NumPy (CPU only): the same ``condition`` and
    ``denoise``, cheaper per call at small batches.

    In a SiLU network every layer that feeds a SiLU keeps half its weight and bias, so it
    computes ``y = z / 2`` of the pre-activation ``z``, and ``silu(z) = y (1 + tanh y)`` costs
    three NumPy calls (halving is exact in floating point). A ReLU network keeps its weights
    and takes one call, ``max(z, 0)``."""

    source: SamplingPlan
    xp: ModuleType = field(init=False, default=np)
    norms: Standardisation = field(init=False)
    encoder_layers: list = field(init=False)
    cond: np.ndarray = field(init=False)
    blocks: list = field(init=False)
    out: tuple = field(init=False)
    levels: dict[float, Level] = field(init=False, default_factory=dict)
    folded_inputs: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(init=False,
                                                                    default_factory=dict)
    """Per context level and token mask, the encoder's first layer with the input tokens'
    arithmetic folded in (filled by the model, which knows the token layout)."""
    scale: float = field(init=False)
    """What the layers that feed an activation are scaled by: 1/2 for SiLU, 1 for ReLU."""
    activation: Callable[[np.ndarray], np.ndarray] = field(init=False)
    """In place on a scaled pre-activation: ``_silu_of_half`` or ``_relu``."""

    def __post_init__(self) -> None:
        if self.source.dtype != torch.float32:
            raise ValueError(f"the NumPy plan is float32, not {self.source.dtype}")
        src = self.source
        self.norms = src.norms.numpy()
        self.scale = 1.0 if src.relu else 0.5
        self.activation = _relu if src.relu else _silu_of_half
        self.encoder_layers = [_numpy(layer, self.scale) for layer in src.encoder_layers]
        self.cond = src.cond.numpy() * np.float32(self.scale)  # feeds an activation too
        self.blocks = [_numpy(layer, self.scale) for layer in src.blocks]
        self.out = _numpy(src.out)

    def condition(self, tokens: np.ndarray, first_layer: tuple | None = None) -> np.ndarray:
        """``first_layer`` replaces the encoder's first ``(weight, bias)`` (for inputs other
        than the tokens, e.g. ``folded_inputs``)."""
        if tokens.ndim == 2 and len(tokens) == 1:  # one row: vector-matrix products,
            return self.condition(tokens[0], first_layer)[None]  # ~half a 1-row matmul's cost
        h = tokens
        for i, (weight, bias) in enumerate(self.encoder_layers):
            if i == 0 and first_layer is not None:
                weight, bias = first_layer
            h = self.activation(np.add(h @ weight, bias))
        return h @ self.cond

    def denoise(self, x: np.ndarray, sigma: float, cond: np.ndarray) -> np.ndarray:
        if x.ndim == 2 and len(x) == 1:  # one row: vector-matrix products, as in condition
            return self.denoise(x[0], sigma, cond[0])[None]
        level = self.levels.get(sigma) or self._level(sigma)
        h = self.activation(np.add(x @ level.w_in, cond + level.bias))
        for weight, bias in self.blocks:
            h += self.activation(np.add(h @ weight, bias))
        out = np.add(h @ self.out[0], self.out[1])
        out *= np.float32(level.c_out)
        out += np.float32(level.c_skip) * x
        return out

    def _level(self, sigma: float) -> Level:
        level = self.source.levels.get(sigma) or self.source._level(sigma)
        scale = np.float32(self.scale)
        self.levels[sigma] = Level(level.c_skip, level.c_out, level.w_in.numpy() * scale,
                                   level.bias.numpy() * scale)
        return self.levels[sigma]

    @staticmethod
    def array(tensor: torch.Tensor) -> np.ndarray:
        return tensor.numpy()

    @staticmethod
    def scalar(value: float) -> np.float32:
        return np.float32(value)

    @staticmethod
    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array))


def _numpy(layer: tuple[torch.Tensor, torch.Tensor | None], scale: float = 1.0
           ) -> tuple[np.ndarray, np.ndarray]:
    weight, bias = layer
    bias = torch.zeros(weight.shape[1]) if bias is None else bias
    return weight.numpy() * np.float32(scale), bias.numpy() * np.float32(scale)


def _silu_of_half(y: np.ndarray) -> np.ndarray:
    """``silu(2 y) = y (1 + tanh y)``, in place on ``y`` (no overflow, as ``exp`` would have)."""
    t = np.tanh(y)
    t += np.float32(1.0)
    y *= t
    return y


def _relu(z: np.ndarray) -> np.ndarray:
    """``max(z, 0)``, in place."""
    return np.maximum(z, np.float32(0.0), out=z)


_VERSION = attrgetter("_version")


def weights_version(params: list[torch.Tensor]) -> int:
    """Changes whenever one of ``params`` is updated in place (optimiser steps and
    ``load_state_dict`` both are): cheap enough to check on every env step. A sum, as each
    tensor's version counter only ever grows."""
    return sum(map(_VERSION, params))
