"""Samplers: integrate the probability-flow ODE from ``sigma_max`` to 0 with a denoiser.

A denoiser here is any callable ``denoise(x, sigma) -> x0_hat`` over a batch, ``x`` of shape
``(B, D)`` and ``sigma`` of shape ``(B,)``; the conditioning (history, action) is closed over by the
caller, so the same sampler serves every model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sample(denoise: Denoise, shape: tuple[int, int], sigmas: torch.Tensor,
           generator: torch.Generator | None = None, heun: bool = False) -> torch.Tensor:
    """Draw ``shape`` samples by Euler (or Heun) steps along ``sigmas`` (ending in 0).

    1. start from pure noise at ``sigmas[0]``;
    2. at each level, step along the ODE direction ``(x - denoise(x)) / sigma``;
    3. with ``heun``, correct each step with the direction at its end (2 calls a step, none on
       the last step to 0, as in EDM's Algorithm 1).
    """
    batch = shape[0]
    x = torch.randn(shape, generator=generator) * sigmas[0]
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        d = (x - denoise(x, sigma.expand(batch))) / sigma
        x_next = x + (sigma_next - sigma) * d
        if heun and sigma_next > 0:
            d_next = (x_next - denoise(x_next, sigma_next.expand(batch))) / sigma_next
            x_next = x + (sigma_next - sigma) * 0.5 * (d + d_next)
        x = x_next
    return x
