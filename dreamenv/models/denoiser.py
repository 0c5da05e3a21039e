"""The networks of the diffusion dynamics model: a context encoder and an EDM denoiser.

Shapes: ``B`` batch, ``L`` history length, ``S`` state size, ``A`` action size, ``D = S + 1``
(normalised state delta and reward), ``H`` hidden width.

The split is for speed: the context (noisy history, current state, action) is encoded once per env
step into ``cond`` of shape ``(B, H)``, already multiplied into the denoiser's first layer, so each
denoising step only runs the small denoiser trunk on ``(B, D)`` plus that precomputed term.
``forward`` is the training path; sampling runs the same networks through
:mod:`dreamenv.models.fastpath`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dreamenv.models.schedule import EDMSchedule

MIN_LOG_SIGMA = math.log(1e-4)
ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}
"""The networks' nonlinearity by name: SiLU (the default), or ReLU, about ten times cheaper per
element on a CPU, where at 128 wide a SiLU costs a quarter to a half of the product before it."""


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def noise_feature(sigma: torch.Tensor) -> torch.Tensor:
    """EDM's ``c_noise = log(sigma) / 4``, finite for clean tokens (``sigma = 0``)."""
    return sigma.clamp_min(1e-4).log().clamp_min(MIN_LOG_SIGMA) / 4


class ContextEncoder(nn.Module):
    """Encode Diffusion-Forcing context tokens into one vector per batch row.

    Inputs: ``states`` ``(B, L+1, S)`` normalised and noised (last token = current state),
    ``state_sigmas`` ``(B, L+1)`` their noise levels, ``past_actions`` ``(B, L, A)``, ``action``
    ``(B, A)``. Each state token enters as ``c_in(sigma) * s`` beside its noise feature, so a
    heavily noised token (or a padded one, given ``sigma_max``) reads as "unknown".
    """

    def __init__(self, history_len: int, state_dim: int, action_dim: int, hidden: int,
                 layers: int, sigma_data: float = 1.0, act: str = "silu"):
        super().__init__()
        width = (history_len + 1) * (state_dim + 1) + (history_len + 1) * action_dim
        mods: list[nn.Module] = []
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), activation(act)]
            width = hidden
        self.net = nn.Sequential(*mods)
        self.sigma_data = sigma_data

    def forward(self, states: torch.Tensor, state_sigmas: torch.Tensor,
                past_actions: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.net(self.tokens(states, state_sigmas, past_actions, action))

    def tokens(self, states: torch.Tensor, state_sigmas: torch.Tensor,
               past_actions: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """The network's flat input ``(B, W)``."""
        c_in = 1 / (state_sigmas**2 + self.sigma_data**2).sqrt()
        tokens = torch.cat([states * c_in[..., None], noise_feature(state_sigmas)[..., None]], -1)
        return torch.cat([tokens.flatten(1), past_actions.flatten(1), action], -1)


class Denoiser(nn.Module):
    """EDM-preconditioned denoiser ``D(x; sigma, cond) = c_skip x + c_out F(c_in x, c_noise)``."""

    def __init__(self, target_dim: int, hidden: int, blocks: int, schedule: EDMSchedule,
                 fourier_dim: int = 16, act: str = "silu"):
        super().__init__()
        self.schedule = schedule
        self.in_x = nn.Linear(target_dim, hidden)
        self.in_cond = nn.Linear(hidden, hidden, bias=False)
        self.register_buffer("freqs", torch.randn(fourier_dim // 2) * 4.0)
        self.in_noise = nn.Linear(fourier_dim, hidden)
        self.blocks = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(blocks))
        self.out = nn.Linear(hidden, target_dim)
        self.act = activation(act)

    def condition(self, context: torch.Tensor) -> torch.Tensor:
        """The context's share of the first layer, ``(B, H)``: computed once per env step."""
        return self.in_cond(context)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` ``(B, D)`` at per-row levels ``sigma`` ``(B,)`` (the training path;
        sampling uses :class:`~dreamenv.models.fastpath.SamplingPlan`, the same function)."""
        c_skip, c_out, c_in, c_noise = (c[:, None] for c in self.schedule.scalings(sigma))
        h = self.act(self.in_x(c_in * x) + self.noise_embedding(c_noise) + cond)
        for block in self.blocks:
            h = h + self.act(block(h))
        return c_skip * x + c_out * self.out(h)

    def noise_embedding(self, c_noise: torch.Tensor) -> torch.Tensor:
        """The noise level's share of the first layer: Fourier features of ``c_noise``."""
        angles = c_noise * self.freqs  # (B, F/2)
        return self.in_noise(torch.cat([angles.sin(), angles.cos()], -1))
