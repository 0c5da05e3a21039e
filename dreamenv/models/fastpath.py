"""The sampling fast path: the diffusion model's networks prepared once for inference.

An env step at batch 1 costs what its small torch ops cost, not their arithmetic; at batch 1024 it
costs matmuls. So the sampling path

1. folds everything that depends only on a sampling level (EDM's scalings, the noise embedding,
   ``c_in``) into that level's first-layer weight and bias, computed once per level;
2. keeps transposed weights ready in the chosen precision: ``bfloat16`` matmuls are about twice
   as fast as ``float32`` on CPUs with AVX512-BF16, and their rounding is row-wise, so a row's
   result does not depend on its batch;
3. calls functional ops instead of ``nn.Module.__call__``.

It computes the same function as the training-path ``forward`` (checked to float tolerance in
``tests/models/test_fastpath.py``). :class:`SamplingPlan` is rebuilt whenever a weight changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
class SamplingPlan:
    """The encoder and denoiser of one model, prepared for sampling in ``dtype``."""

    encoder: ContextEncoder
    denoiser: Denoiser
    dtype: torch.dtype
    encoder_layers: list = field(init=False)
    cond: torch.Tensor = field(init=False)
    blocks: list = field(init=False)
    out: tuple = field(init=False)
    levels: dict[float, Level] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
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
            h = F.silu(torch.addmm(bias, h, weight))
        return h @ self.cond

    def denoise(self, x: torch.Tensor, sigma: float, cond: torch.Tensor) -> torch.Tensor:
        """The denoiser at one float level: ``(B, D)`` float32 in and out."""
        level = self.levels.get(sigma) or self._level(sigma)
        h = F.silu(torch.addmm(cond + level.bias, x.to(self.dtype), level.w_in))
        for weight, bias in self.blocks:
            h = h + F.silu(torch.addmm(bias, h, weight))
        out = torch.addmm(self.out[1], h, self.out[0]).float()
        return torch.add(out * level.c_out, x, alpha=level.c_skip)

    def _level(self, sigma: float) -> Level:
        den = self.denoiser
        with torch.no_grad():
            c_skip, c_out, c_in, c_noise = den.schedule.scalings(torch.tensor([sigma]))
            w_in = _prepared(den.in_x, self.dtype, scale=c_in.item())[0]
            bias = (den.in_x.bias + den.noise_embedding(c_noise[:, None])[0]).to(self.dtype)
        self.levels[sigma] = Level(c_skip.item(), c_out.item(), w_in, bias)
        return self.levels[sigma]


def weights_version(params: list[torch.Tensor]) -> tuple:
    """Changes whenever one of ``params`` is updated in place (optimiser steps and
    ``load_state_dict`` both are): cheap enough to check on every env step."""
    return tuple(p._version for p in params)
