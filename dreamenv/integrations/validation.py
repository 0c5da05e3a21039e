"""Offline policy selection for the main job: score each iteration's policy in a second learned
env that the agent never trains in, and keep the checkpoint that scores best there.

An agent trained in one model learns that model's errors: its imagined return climbs while the
real one falls. A model trained on other data has other errors, so its return for a policy
that exploits the first model stays closer to the truth (README, "Every task": on Walker2d it
picked the iteration the real env would have picked). No real-env step goes into the choice;
the real returns the main job logs (:class:`RealScore`, the same seed-matched episodes in the
real env) are there to judge it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dreamenv._atomic import swap_in_dir
from dreamenv.tasks import get_task


def resolved_models(spec: str) -> str:
    """``spec`` (one model or an ensemble ``"A+B"``, each a checkpoint directory or the name of
    a shipped model, e.g. ``walker2d+walker2d-rme``) as absolute checkpoint paths joined by
    ``+``: what the envs' ``model=`` takes in any working directory (Ray's workers start in
    their own). A member that is neither is refused in one line naming it and ``spec``."""
    from dreamenv.envs.core import checkpoint_members
    from dreamenv.models.checkpoint import CheckpointError, model_dir

    paths = []
    for member in checkpoint_members(spec):
        paths.append(model_dir(member, context=f" in {spec!r}").resolve())
        if not paths[-1].exists():
            raise CheckpointError(f"model {str(member)!r} in {spec!r}: no such checkpoint "
                                  "directory")
    return "+".join(str(path) for path in paths)


class SeedMatchedScore:
    """``score(policy)``: the mean return of one deterministic episode per row of the vector env
    ``env``, row ``i`` from seed ``seed + i``: the same starts at every call, so two calls differ
    only by the policy. All rows step together (one batched policy call per step)."""

    def __init__(self, env: object, seed: int, max_steps: int):
        self.env, self.seed, self.max_steps = env, seed, max_steps

    def __call__(self, policy: object) -> float:
        from dreamenv.evaluation.compare import run_matched

        returns, _, _ = run_matched(self.env, policy, self.seed, self.max_steps)
        return float(returns.mean())


class HeldOutScore(SeedMatchedScore):
    """:class:`SeedMatchedScore` of ``episodes`` episodes in the learned env of ``task`` on the
    checkpoint ``model`` (see :func:`resolved_models`; no uncertainty penalty: the model's own
    reward); ``env_kwargs`` go to the env (``device``, ``denoising_steps``)."""

    def __init__(self, task: str, model: str, episodes: int = 10, seed: int = 0,
                 env_kwargs: dict | None = None):
        import gymnasium as gym

        from dreamenv.envs import dream_env_id

        if episodes < 1:
            raise ValueError(f"validation episodes must be at least 1, got {episodes}")
        max_steps = get_task(task).max_episode_steps or 1000
        super().__init__(gym.make_vec(dream_env_id(task), num_envs=episodes,
                                      model=resolved_models(model),
                                      max_episode_steps=max_steps, **(env_kwargs or {})),
                         seed, max_steps)


class RealScore(SeedMatchedScore):
    """:class:`SeedMatchedScore` of ``episodes`` episodes in the real env of ``task`` (e.g.
    Hopper-v5, its own time limit): what the main job reports as each iteration's real return.
    A deterministic policy in the deterministic simulator from fixed starts scores the same
    every time, so the log's curve moves only when the policy does."""

    def __init__(self, task: str, episodes: int = 5, seed: int = 0):
        import gymnasium as gym

        if episodes < 1:
            raise ValueError(f"real-env evaluation episodes must be at least 1, got {episodes}")
        known = get_task(task)
        max_steps = known.max_episode_steps or 1000
        super().__init__(gym.make_vec(known.env_id, num_envs=episodes,
                                      vectorization_mode="sync", max_episode_steps=max_steps),
                         seed, max_steps)


def keep_copy(checkpoint: Path, kept: Path) -> None:
    """Copy the checkpoint directory ``checkpoint`` to ``kept``, swapped in whole."""
    fresh = kept.with_name(kept.name + ".new")
    shutil.rmtree(fresh, ignore_errors=True)
    shutil.copytree(checkpoint, fresh)
    swap_in_dir(fresh, kept)
