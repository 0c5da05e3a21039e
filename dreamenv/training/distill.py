"""Distillation: a diffusion model that also learns to retrace another model's sampler.

Issue 14's lever of a smaller network: a 128-wide two-block model runs the learned env about
three times as fast as the shipped 256-wide three-block one, but trained on the data alone it
was about a fifth less accurate open loop (README, Walker2d). Distillation gives the small
student a second target with no sampling noise in it: along the teacher's own sampling path
(its Euler steps from ``sigma_max``, the context at the inference level), the student's denoiser
should return what the teacher's returns. Given the same noise, the student's sampler then lands
where the teacher's does. The data's own EDM loss stays in the sum, so the student is still a
diffusion model of the data at every level, not only on the teacher's path.

A student may also take fewer sampling steps than its teacher (issue 14's lever of fewer network
calls a step), as in progressive distillation (Salimans and Ho 2022): when the teacher's step
count is a multiple ``k`` of the student's, the student's levels are every ``k``-th of the
teacher's, and at each of them the student's target is the denoiser output whose one Euler step
lands where the teacher's ``k`` steps land. With ``k = 1`` that is the teacher's own output.

The student shares the teacher's history length, noise schedule and normalisers (it reads the
same context tokens) and must be trained on the teacher's dataset (checked by fingerprint).
"""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

import torch

from dreamenv.models.checkpoint import load_checkpoint
from dreamenv.models.diffusion import DiffusionConfig, DiffusionDynamics, NoiseConfig
from dreamenv.models.noise import randn
from dreamenv.training.data import Batch


class SamplerMatch:
    """The sampler-matching loss of a ``student`` against a frozen ``teacher``."""

    def __init__(self, teacher: DiffusionDynamics):
        if teacher.mix is not None:
            raise ValueError("distilling a temporal_mix teacher is not implemented")
        self.teacher = teacher.eval().requires_grad_(False)
        self.plan = teacher.sampling_plan("float32", "torch")
        self.sigmas = teacher.schedule.sampling_sigmas(teacher.cfg.denoising_steps).tolist()
        # The context as the envs show it: every token at the stabilisation level.
        self.level = max(teacher.cfg.history_noise, teacher.cfg.context_sigma_min)

    @classmethod
    def from_checkpoint(cls, path: str | Path, fingerprint: str, student: DiffusionConfig,
                        device: torch.device) -> SamplerMatch:
        """The teacher checkpoint at ``path``, checked against the student's data (its
        ``fingerprint``) and config; one-line ``ValueError`` otherwise."""
        teacher, _, config = load_checkpoint(path)
        if config["kind"] != "diffusion":
            raise ValueError(f"{path}: a {config['kind']} model; the teacher must be a "
                             "diffusion model")
        trained_on = config.get("dataset", {})
        if trained_on.get("sha256") != fingerprint:
            raise ValueError(f"{path}: trained on {trained_on.get('name')!r} (fingerprint "
                             f"{str(trained_on.get('sha256'))[:12]}), not on this dataset "
                             f"({fingerprint[:12]}); distil on the teacher's own data")
        shared = ["history_len", *(f.name for f in fields(NoiseConfig))]
        differ = [name for name in shared
                  if getattr(teacher.cfg, name) != getattr(student, name)]
        if differ:
            raise ValueError(f"{path}: the student must share the teacher's history and noise "
                             f"schedule; it differs in {', '.join(differ)}")
        steps = (teacher.cfg.denoising_steps, student.denoising_steps)
        if steps[0] % steps[1]:
            raise ValueError(f"{path}: the teacher samples in {steps[0]} steps; a student's "
                             f"steps must divide that, got {steps[1]}")
        return cls(teacher.to(device))

    def normalizers(self) -> tuple:
        """Copies of the teacher's state and target normalisers and state bounds: the student
        must read the same tokens and write in the same units."""
        t = self.teacher
        return tuple(copy.deepcopy(m) for m in (t.state_norm, t.target_norm, t.state_bounds))

    def loss(self, student: DiffusionDynamics, batch: Batch,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """EDM-weighted squared difference, averaged over the student's sampling levels, between
        the student's denoiser and the output that makes its Euler step land on the teacher's
        sampling path from the same noise."""
        history, action = batch.history, batch.action
        d = student.state_dim + 1
        noise = randn((len(action), history.states[0].numel() + d), generator,
                      history.states.device)
        tokens = self.teacher.inference_tokens(self.plan, history.states, history.valid,
                                               history.actions, action, self.level,
                                               noise[:, :-d])
        with torch.no_grad():
            teacher_cond = self.plan.condition(tokens)
        student_cond = student.denoiser.condition(student.encoder.net(tokens))
        stride = (len(self.sigmas) - 1) // student.cfg.denoising_steps
        x = noise[:, -d:] * self.sigmas[0]
        total = x.new_zeros(())
        for first in range(0, len(self.sigmas) - 1, stride):
            start, sigma, sigma_end = x, self.sigmas[first], self.sigmas[first + stride]
            with torch.no_grad():
                for s, s_next in zip(self.sigmas[first:first + stride],
                                     self.sigmas[first + 1:first + stride + 1]):
                    x = x + (s_next - s) * (x - self.plan.denoise(x, s, teacher_cond)) / s
                # The Euler step start -> x from sigma to sigma_end, solved for its denoiser.
                target = start - sigma * (x - start) / (sigma_end - sigma)
            levels = x.new_full((len(x),), sigma)
            guess = student.denoiser(start, levels, student_cond)
            total = total + student.schedule.loss_weight(levels[:1])[0] * (
                (guess - target) ** 2).mean()
        return total / student.cfg.denoising_steps
