"""The EDM noise schedule (Karras et al. 2022): training noise levels, sampling levels, scalings.

Everything here is a pure function of ``sigma``; the denoiser and the sampler only call it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EDMSchedule:
    """EDM's parameters, tuned for unit-variance targets and few sampling steps.

    Attributes:
        sigma_min, sigma_max: ends of the sampling schedule. ``sigma_max`` = 5 is pure noise for
            standardised targets (std 1) and wastes fewer of the 3-5 steps than EDM's 80.
        rho: curvature of the sampling schedule (7 puts the steps near ``sigma_min``).
        sigma_data: std of the (standardised) targets.
        p_mean, p_std: log-normal training distribution of ``sigma``.
    """

    sigma_min: float = 0.002
    sigma_max: float = 5.0
    rho: float = 7.0
    sigma_data: float = 1.0
    p_mean: float = -1.2
    p_std: float = 1.2

    def training_sigmas(self, n: int, generator: torch.Generator | None = None,
                        device: str | torch.device | None = None) -> torch.Tensor:
        """``(n,)`` noise levels drawn from the log-normal training distribution."""
        return (self.p_mean + self.p_std * torch.randn(n, generator=generator,
                                                       device=device)).exp()

    def loss_weight(self, sigma: torch.Tensor) -> torch.Tensor:
        return (sigma**2 + self.sigma_data**2) / (sigma * self.sigma_data) ** 2

    def sampling_sigmas(self, steps: int) -> torch.Tensor:
        """``(steps + 1,)`` decreasing levels from ``sigma_max`` to 0, one network call each.

        The Karras ramp has ``steps + 1`` points from ``sigma_max`` to ``sigma_min`` and its last
        point is replaced by 0: with 3-5 steps a call at ``sigma_min`` (where the denoiser is
        nearly the identity) would waste a third of the budget.

        Examples:
            >>> s = EDMSchedule().sampling_sigmas(3)
            >>> [round(v, 3) for v in s.tolist()]
            [5.0, 0.845, 0.077, 0.0]
        """
        if not 1 <= steps <= 1000:
            raise ValueError(f"denoising steps must be in 1..1000, got {steps}")
        ramp = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
        lo, hi = self.sigma_min ** (1 / self.rho), self.sigma_max ** (1 / self.rho)
        sigmas = (hi + ramp * (lo - hi)) ** self.rho
        sigmas[-1] = 0.0
        return sigmas.float()

    def scalings(self, sigma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """EDM preconditioning ``(c_skip, c_out, c_in, c_noise)`` for noise level ``sigma``."""
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / (sigma**2 + sd2).sqrt()
        c_in = 1 / (sigma**2 + sd2).sqrt()
        c_noise = sigma.log() / 4
        return c_skip, c_out, c_in, c_noise


@dataclass(frozen=True)
class TemporalMix:
    """Dynamical Diffusion's temporally-aware forward process (Guo et al. 2025), on EDM levels.

    At noise level ``sigma`` the clean target ``x0`` is first blended with the preceding step's
    target ``p``, then noised: ``x = a(sigma) x0 + b(sigma) p + sigma n`` with
    ``a = sqrt(theta)``, ``b = sqrt(1 - theta)``. ``theta`` follows the paper's cosine schedule
    with a ratio: 1 at ``sigma_min`` (no blending when nearly clean), ``1 - ratio`` at
    ``sigma_max``; the diffusion time is ``log sigma`` rescaled to [0, 1]. The reverse process
    undoes the blend at every step (:func:`dreamenv.models.sampler.sample_mixed`).

    Attributes:
        ratio: the blend at the highest level, in (0, 1]; the paper's configs use 0.5.
    """

    ratio: float = 0.5
    sigma_min: float = 0.002
    sigma_max: float = 5.0

    def weights(self, sigma: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, b)`` for each level in ``sigma``.

        Examples:
            >>> a, b = TemporalMix(0.5).weights(torch.tensor([0.0, 0.002, 5.0]))
            >>> [round(v, 3) for v in (a ** 2).tolist()], [round(v, 3) for v in (b ** 2).tolist()]
            ([1.0, 1.0, 0.5], [0.0, 0.0, 0.5])
        """
        sigma = torch.as_tensor(sigma, dtype=torch.float32)
        span = torch.log(torch.tensor(self.sigma_max / self.sigma_min))
        u = (torch.log(sigma.clamp_min(1e-30) / self.sigma_min) / span).clamp(0.0, 1.0)
        theta = 1.0 - self.ratio * (1.0 - torch.cos(0.5 * torch.pi * u) ** 2)
        return theta.sqrt(), (1.0 - theta).clamp_min(0.0).sqrt()
