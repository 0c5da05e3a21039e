"""The trajectory model's denoiser: a temporal convolution net over a window of future steps.

Shapes: ``B`` batch, ``W`` window (future steps), ``D`` target size per step (state and reward),
``A`` action size, ``C`` channels, ``H`` context width.

Every step of the window is a token with its own noise level (Diffusion Forcing): the EDM
preconditioning is applied per token, and each token's noise feature enters beside it, so the same
network denoises a whole window at one level or a window whose tokens sit at different levels.
The actions of the window (held fixed: DyDiff's in-painting of the action sequence) enter as
channels beside the tokens; the history window enters once, as a per-channel scale and shift
(FiLM) of every block. The convolutions are not causal: a token sees the steps before and after
it, which is what denoising a trajectory jointly means.
"""

from __future__ import annotations

import torch
from torch import nn

from dreamenv.models.denoiser import noise_feature
from dreamenv.models.schedule import EDMSchedule


class TemporalBlock(nn.Module):
    """Residual block: dilated temporal conv, FiLM from the context, pointwise conv."""

    def __init__(self, channels: int, kernel: int, dilation: int, context: int):
        super().__init__()
        self.norm = nn.GroupNorm(8 if channels % 8 == 0 else 1, channels)
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel // 2),
                              dilation=dilation)
        self.film = nn.Linear(context, 2 * channels)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.act = nn.SiLU()

    def forward(self, h: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(context)[..., None].chunk(2, dim=1)  # (B, C, 1) each
        z = self.conv(self.act(self.norm(h)))
        z = self.act(z * (1 + scale) + shift)
        return h + self.mix(z)


class TemporalDenoiser(nn.Module):
    """EDM denoiser ``D(x; sigma) = c_skip x + c_out F(c_in x, c_noise, actions, context)`` over
    ``x`` ``(B, W, D)`` with per-token levels ``sigma`` ``(B, W)``.

    Dilations double block by block (1, 2, 4, ...), so a few blocks see the whole window.
    """

    def __init__(self, target_dim: int, action_dim: int, context: int, channels: int,
                 blocks: int, window: int, schedule: EDMSchedule, kernel: int = 5):
        super().__init__()
        self.schedule = schedule
        self.inp = nn.Conv1d(target_dim + action_dim + 1, channels, 1)
        self.position = nn.Parameter(torch.zeros(channels, window))
        self.blocks = nn.ModuleList(TemporalBlock(channels, kernel, 2**i, context)
                                    for i in range(blocks))
        self.out = nn.Conv1d(channels, target_dim, 1)
        nn.init.zeros_(self.out.weight)  # starts as the EDM skip: a denoiser that does nothing
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor, actions: torch.Tensor,
                context: torch.Tensor) -> torch.Tensor:
        c_skip, c_out, c_in, _ = (c[..., None] for c in self.schedule.scalings(sigma))
        tokens = torch.cat([c_in * x, actions, noise_feature(sigma)[..., None]], -1)
        h = self.inp(tokens.transpose(1, 2)) + self.position[:, :x.shape[1]]
        for block in self.blocks:
            h = block(h, context)
        return c_skip * x + c_out * self.out(h).transpose(1, 2)
