"""Samplers: integrate the probability-flow ODE from ``sigma_max`` to 0 with a denoiser.

A denoiser here is any callable ``denoise(x, sigma) -> x0_hat`` over a batch, ``x`` of shape
``(B, D)`` and ``sigma`` one noise level (a float) for the whole batch; the conditioning (history,
action) is closed over by the caller, so the same sampler serves every model. A float level lets
the denoiser reuse its per-level constants, which matters at batch 1 where every op counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from dreamenv.models.schedule import TemporalMix

Denoise = Callable[[torch.Tensor, float], torch.Tensor]


def sample(denoise: Denoise, noise: torch.Tensor, sigmas: Sequence[float] | torch.Tensor,
           heun: bool = False) -> torch.Tensor:
    """Turn standard-normal ``noise`` ``(B, D)`` into samples by Euler (or Heun) steps along
    ``sigmas`` (ending in 0). The ODE is deterministic: all randomness is in ``noise``, which the
    caller draws (together with its other noise, in one call to its source).

    1. start from pure noise ``sigmas[0] * noise``;
    2. at each level, step along the ODE direction ``(x - denoise(x)) / sigma``;
    3. with ``heun``, correct each step with the direction at its end (2 calls a step, none on
       the last step to 0, as in EDM's Algorithm 1).
    """
    levels = [float(s) for s in sigmas]
    x = noise * levels[0]
    for sigma, sigma_next in zip(levels[:-1], levels[1:]):
        d = (x - denoise(x, sigma)) / sigma
        x_next = x + (sigma_next - sigma) * d
        if heun and sigma_next > 0:
            d_next = (x_next - denoise(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma) * 0.5 * (d + d_next)
        x = x_next
    return x


def sample_mixed(denoise: Denoise, noise: torch.Tensor, sigmas: Sequence[float] | torch.Tensor,
                 previous: torch.Tensor, mix: TemporalMix) -> tuple[torch.Tensor, torch.Tensor]:
    """Sampling for Dynamical Diffusion's forward process ``x = a x0 + b p + sigma n``
    (:class:`~dreamenv.models.schedule.TemporalMix`); ``denoise`` predicts the blended clean
    ``a x0 + b p``. Returns the sample and the first estimate of ``x0`` (for the uncertainty).

    1. start from the blended prior ``b(sigma_0) p + sigma_0 noise``;
    2. at each level, undo the blend of the denoiser's estimate to get ``x0``, and the noise
       direction ``(x - estimate) / sigma``;
    3. re-blend ``x0`` at the next level and add the noise direction at that level (with no
       blending this is exactly the Euler step of :func:`sample`).
    """
    levels = [float(s) for s in sigmas]
    a, b = (w.tolist() for w in mix.weights(torch.tensor(levels)))
    x = b[0] * previous + levels[0] * noise
    first = None
    for i, (sigma, sigma_next) in enumerate(zip(levels[:-1], levels[1:])):
        blended = denoise(x, sigma)
        x0 = (blended - b[i] * previous) / a[i]
        if first is None:
            first = x0
        x = a[i + 1] * x0 + b[i + 1] * previous + (sigma_next / sigma) * (x - blended)
    return x, first
