"""How each named dataset is made, and ``make_dataset`` which makes (or finds) it.

Names follow D4RL, for every task (``hopper``, ``walker2d``, ``halfcheetah``):
``<task>-random``, ``-medium``, ``-expert`` are 1M transitions of a behaviour policy;
``-medium-replay`` is the SAC training buffer up to the step of the medium snapshot and
``-full-replay`` the whole buffer; ``-medium-expert`` is medium and expert concatenated (2M);
``-random-medium-expert`` and ``-union`` (the same plus full-replay) are training-data levers.
Files are cached under ``$DREAMENV_DATA/datasets`` and keyed by name, size and seed, so asking
twice is instant.
"""

from __future__ import annotations

import enum
import importlib.metadata
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamenv.behaviour import behaviour_policy
from dreamenv.behaviour.sac import behaviour_sac_config, run_file, train_sac
from dreamenv.datasets.dataset import DatasetError, OfflineDataset
from dreamenv.datasets.hdf5 import load_hdf5, save_hdf5
from dreamenv.datasets.rollout import collect
from dreamenv.paths import data_dir
from dreamenv.tasks import TASKS


class Source(enum.Enum):
    """Where a dataset's transitions come from."""

    ROLLOUT = "rollout"  # a fixed behaviour policy run in the real env
    REPLAY = "replay"  # the behaviour-policy SAC run's replay buffer
    MIXTURE = "mixture"  # other datasets concatenated


@dataclass(frozen=True)
class Recipe:
    """A named dataset. ``policy`` is a behaviour level for ROLLOUT, the level the buffer is
    cut at for REPLAY (``None``: the whole run), unused for MIXTURE."""

    name: str
    task: str
    source: Source
    policy: str | None = None
    seed: int = 0
    default_steps: int | None = 1_000_000
    parts: tuple[str, ...] = ()
    description: str = ""


def task_recipes(task: str) -> tuple[Recipe, ...]:
    """D4RL's datasets for one task (``<task>-random``, ...), and the training-data levers."""
    return (
        Recipe(f"{task}-random", task, Source.ROLLOUT, "random", seed=0,
               description="uniform random actions"),
        Recipe(f"{task}-medium", task, Source.ROLLOUT, "medium", seed=1,
               description="the medium SAC snapshot, sampled actions"),
        Recipe(f"{task}-expert", task, Source.ROLLOUT, "expert", seed=2,
               description="the expert SAC policy, sampled actions"),
        Recipe(f"{task}-medium-replay", task, Source.REPLAY, "medium", default_steps=None,
               description="SAC replay buffer up to the medium snapshot"),
        Recipe(f"{task}-full-replay", task, Source.REPLAY, None, default_steps=None,
               description="the whole SAC replay buffer"),
        Recipe(f"{task}-medium-expert", task, Source.MIXTURE, default_steps=2_000_000,
               parts=(f"{task}-medium", f"{task}-expert"), description="medium + expert, 1M each"),
        Recipe(f"{task}-random-medium-expert", task, Source.MIXTURE, default_steps=None,
               parts=(f"{task}-random", f"{task}-medium", f"{task}-expert"),
               description="random + medium + expert, 1M each (3M)"),
        Recipe(f"{task}-union", task, Source.MIXTURE, default_steps=None,
               parts=(f"{task}-random", f"{task}-medium", f"{task}-expert",
                      f"{task}-full-replay"),
               description="random + medium + expert + full-replay, all of each"),
    )


RECIPES: dict[str, Recipe] = {r.name: r for task in TASKS for r in task_recipes(task)}


def dataset_path(name: str, steps: int | None = None, seed: int | None = None) -> Path:
    """Cache path of a dataset; non-default sizes and seeds get their own file."""
    recipe = get_recipe(name)
    suffix = ""
    if steps is not None and steps != recipe.default_steps:
        suffix += f"-{steps}steps"
    if seed is not None and seed != recipe.seed:
        suffix += f"-seed{seed}"
    return data_dir() / "datasets" / f"{name}{suffix}.hdf5"


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def make_dataset(name: str, steps: int | None = None, seed: int | None = None,
                 force: bool = False, sac_run: str | Path | None = None) -> Path:
    """Make dataset ``name`` (or return the cached file) and return its path.

    Args:
        name: one of :data:`RECIPES`.
        steps: number of transitions (default: the recipe's, D4RL's size); for replay datasets,
            the first ``steps`` rows of the buffer.
        seed: rollout seed (default: the recipe's); ignored by replay datasets, whose seed is the
            SAC run's; a mixture passes it to its parts (default: each part's own).
        force: rebuild even if a valid cached file exists.
        sac_run: directory of the behaviour SAC run (replay datasets and mixtures with a
            replay part); default
            ``$DREAMENV_DATA/runs/sac-<env>-seed<seed>``, trained there first if missing.
    """
    recipe = get_recipe(name)
    if steps is not None and steps < max(1, len(recipe.parts)):
        raise DatasetError(f"{name}: --steps must be at least {max(1, len(recipe.parts))}, "
                           f"got {steps}")
    path = dataset_path(name, steps, seed)
    if path.exists() and not force:
        try:
            load_hdf5(path)
            return path
        except DatasetError:
            pass  # a damaged cache entry is rebuilt, not trusted
    started = time.time()
    user_seed = seed
    steps = recipe.default_steps if steps is None else steps
    seed = recipe.seed if seed is None else seed
    env_id = TASKS[recipe.task].env_id
    if recipe.source is Source.ROLLOUT:
        policy = behaviour_policy(recipe.task, recipe.policy)
        arrays = collect(policy, env_id, steps, seed=seed, desc=name)
        policy_info = getattr(policy, "metadata", None) or {"policy": "uniform random"}
    elif recipe.source is Source.REPLAY:
        arrays, policy_info = _replay_arrays(recipe, steps, sac_run)
        seed = policy_info["sac_config"]["seed"]  # the data is that run's, whatever was asked
    else:
        k = len(recipe.parts)
        sizes = [None] * k if steps is None else [steps // k + (i < steps % k) for i in range(k)]
        parts = [load_hdf5(make_dataset(p, n, user_seed, sac_run=sac_run))
                 for p, n in zip(recipe.parts, sizes)]
        arrays = {k: np.concatenate([p.arrays[k] for p in parts]) for k in parts[0].arrays}
        policy_info = {"parts": [p.metadata.get("name") for p in parts],
                       "part_seeds": [p.metadata.get("seed") for p in parts]}
        seed = user_seed
    metadata = {"name": name, "env_id": env_id, "env_version": env_id.rsplit("-", 1)[-1],
                "source": recipe.source.value, "description": recipe.description,
                "policy": policy_info, "seed": seed, "libraries": library_versions(),
                "generation_seconds": round(time.time() - started, 1)}
    dataset = OfflineDataset(arrays, metadata)
    dataset.metadata["summary"] = dataset.summary()
    return save_hdf5(dataset, path)


def _replay_arrays(recipe: Recipe, steps: int | None, sac_run: str | Path | None):
    """Rows of the SAC run's buffer up to the medium snapshot's step (or all of them)."""
    cfg = behaviour_sac_config(TASKS[recipe.task])
    run = Path(sac_run) if sac_run else data_dir() / "runs" / f"sac-{cfg.env_id}-seed{cfg.seed}"
    state_file = run / "checkpoint.json"
    # A replay cut at a snapshot needs the run only up to that snapshot's step.
    needed = cfg.total_steps if recipe.policy is None else int(
        behaviour_policy(recipe.task, recipe.policy).metadata["step"])
    done = state_file.exists() and json.loads(state_file.read_text())["step"] >= needed
    if not done and sac_run is None:
        print(f"{recipe.name}: training the behaviour SAC run in {run} to step {needed} "
              f"({needed / 4000:.0f} minutes or so; resumable)")
        train_sac(cfg, run, stop_at=needed)
    if not state_file.exists() or not run_file(run, "buffer_file").exists():
        raise DatasetError(f"{run}: no SAC run here (no checkpoint.json or buffer); train one "
                           "with `dreamenv behaviour train`")
    state = json.loads(state_file.read_text())
    stop = state["step"]
    policy_info: dict = {"sac_run": str(run), "sac_config": state["config"]}
    if recipe.policy is not None:
        info = behaviour_policy(recipe.task, recipe.policy).metadata
        stop = int(info["step"])
        policy_info["until"] = info
        if state["config"]["seed"] != info.get("seed", state["config"]["seed"]):
            raise DatasetError(f"{run}: SAC run seed differs from the shipped {recipe.policy} "
                               "policy's; its buffer is not that policy's replay")
        if state["step"] < stop:
            raise DatasetError(f"{run}: run has {state['step']} steps, the {recipe.policy} "
                               f"snapshot is at step {stop}; resume the run first")
    if steps is not None:
        stop = min(stop, steps)
    with np.load(run_file(run, "buffer_file"), allow_pickle=False) as saved:
        arrays = {k.replace("__", "/"): saved[k][:stop] for k in saved.files}
    if len(arrays["rewards"]) < stop:
        raise DatasetError(f"{run}: the buffer has {len(arrays['rewards'])} rows, fewer than "
                           f"the {stop} asked for")
    # The buffer ends mid-episode; close that episode as D4RL closes its last one.
    arrays["timeouts"][-1] |= ~arrays["terminals"][-1]
    return arrays, policy_info


def library_versions() -> dict[str, str]:
    versions = {}
    for pkg in ("dreamenv", "gymnasium", "mujoco", "numpy", "torch", "h5py"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions
