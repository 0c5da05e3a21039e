"""The noise schedule and the sampler, checked against a denoiser whose answer is known."""

from __future__ import annotations

import pytest
import torch

from dreamenv.models.sampler import sample, sample_mixed
from dreamenv.models.schedule import EDMSchedule, TemporalMix


def test_sampling_sigmas_decrease_from_max_to_zero():
    schedule = EDMSchedule()
    for steps in (1, 2, 3, 5, 10, 50):
        s = schedule.sampling_sigmas(steps)
        assert len(s) == steps + 1 and s[0] == pytest.approx(5.0) and s[-1] == 0
        assert torch.all(s[:-1] > s[1:])
        assert s[-2] > 0.002  # every step is a useful network call
    with pytest.raises(ValueError):
        schedule.sampling_sigmas(0)


def test_preconditioning_limits():
    c_skip, c_out, c_in, _ = EDMSchedule().scalings(torch.tensor([1e-6, 1.0, 1e6]))
    # Nearly clean input: keep it (skip = 1, output scale 0); pure noise: predict from scratch.
    assert c_skip[0] == pytest.approx(1.0) and c_out[0] == pytest.approx(0.0, abs=1e-5)
    assert c_skip[1] == pytest.approx(0.5) and c_in[1] == pytest.approx(2**-0.5)
    assert c_skip[2] == pytest.approx(0.0, abs=1e-9) and c_out[2] == pytest.approx(1.0)


def gaussian_oracle(mu: float, s: float):
    """The exact denoiser E[x0 | x] for x0 ~ N(mu, s^2), x = x0 + sigma * n."""
    def denoise(x, sigma):
        return mu + (s**2 / (s**2 + sigma**2)) * (x - mu)
    return denoise


@pytest.mark.parametrize("heun, steps", [(False, 400), (True, 40)])
def test_sampler_recovers_a_gaussian(heun, steps):
    """Euler is first order and needs many more steps than Heun for the same accuracy."""
    gen = torch.Generator().manual_seed(0)
    # sigma_max >> |mu|: the N(0, sigma_max^2) start costs a bias of mu * s / sigma_max only.
    sigmas = EDMSchedule(sigma_max=300.0).sampling_sigmas(steps)
    x = sample(gaussian_oracle(3.0, 0.5), torch.randn(10_000, 2, generator=gen), sigmas, heun=heun)
    assert x.mean().item() == pytest.approx(3.0, abs=0.02)
    assert x.std().item() == pytest.approx(0.5, rel=0.03)


def test_one_step_returns_the_posterior_mean():
    sigmas = EDMSchedule(sigma_max=1e4).sampling_sigmas(1)
    x = sample(gaussian_oracle(3.0, 0.5), torch.randn(100, 1), sigmas)
    assert torch.allclose(x, torch.full_like(x, 3.0), atol=2e-3)  # float32 at |x| ~ 1e4


def test_sampler_is_a_deterministic_map_of_its_noise():
    sigmas = EDMSchedule().sampling_sigmas(3)
    den = gaussian_oracle(0.0, 1.0)
    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(7))
    a, b = sample(den, noise, sigmas), sample(den, noise.clone(), sigmas)
    c = sample(den, noise + 0.1, sigmas)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_temporal_mix_sampler_recovers_a_gaussian_and_undoes_the_blend():
    """Dynamical Diffusion's forward process x = a x0 + b p + sigma n, with the exact denoiser
    of the blended target: the sampler must return x0's distribution, not the blend's."""
    mix = TemporalMix(0.5, sigma_min=0.002, sigma_max=300.0)
    mu, s, p = 3.0, 0.5, -4.0

    def blended_oracle(x, sigma):
        a, b = (float(w) for w in mix.weights(sigma))
        m = a * mu + b * p
        return m + (a**2 * s**2 / (a**2 * s**2 + sigma**2)) * (x - m)

    noise = torch.randn(10_000, 2, generator=torch.Generator().manual_seed(0))
    sigmas = EDMSchedule(sigma_max=300.0).sampling_sigmas(400)
    x, first = sample_mixed(blended_oracle, noise, sigmas, torch.full_like(noise, p), mix)
    assert x.mean().item() == pytest.approx(mu, abs=0.03)
    assert x.std().item() == pytest.approx(s, rel=0.03)
    assert first.shape == x.shape


def test_temporal_mix_of_zero_is_the_euler_sampler():
    sigmas = EDMSchedule().sampling_sigmas(3)
    den = gaussian_oracle(0.5, 1.0)
    noise = torch.randn(5, 3, generator=torch.Generator().manual_seed(7))
    mixed, _ = sample_mixed(den, noise, sigmas, torch.randn(5, 3), TemporalMix(0.0))
    assert torch.allclose(mixed, sample(den, noise, sigmas), atol=1e-6)
