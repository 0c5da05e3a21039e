"""The independent evaluation family: policies from other algorithms and seeds, graded by snapshot.

The shipped models learn from data of one SAC run (seed 1). Judging them on that run's policies,
or on those policies with action noise, flatters them. The family here comes from runs that made
none of the models' data, with another algorithm or clearly other hyper-parameters and seeds (TD3
seed 3; SAC seed 4 with 64-unit networks), and spans near-random to expert, including policies
that fall mid-episode and late collapses. It is used to *evaluate* models, never to choose what a
model trains on or how it is tuned.

Layout of a family directory (``FAMILY_DIR / task`` ships one)::

    family.json          lineages, then one entry per policy: name, lineage, step, weight file,
                         and its real returns and episode lengths for seeds seed .. seed+K-1
    <name>.safetensors   the actor (``dreamenv.behaviour.policy`` format), acting with its mean

``build_family`` makes one from finished runs; ``load_family`` reads it back and checks it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from dreamenv._atomic import atomic_path
from dreamenv._progress import progress
from dreamenv.behaviour.policy import ActorPolicy, load_actor, save_actor
from dreamenv.datasets.rollout import evaluate_returns
from dreamenv.evaluation.compare import run_matched
from dreamenv.tasks import TASKS

FAMILY_DIR = Path(__file__).parent / "family"
FAMILY_FORMAT = "dreamenv-family/1"
SCREEN_SEED = 50_000  # screening episodes start here, far from the graded seeds 0..K-1


@dataclass
class FamilyPolicy:
    """One graded snapshot: its policy and its real returns and lengths per episode seed."""

    name: str
    lineage: str
    step: int
    policy: ActorPolicy
    real_returns: np.ndarray
    real_lengths: np.ndarray


@dataclass
class Family:
    env_id: str
    seed: int
    max_steps: int
    policies: list[FamilyPolicy]
    lineages: dict

    @property
    def episodes(self) -> int:
        return len(self.policies[0].real_returns)


def load_family(path: str | Path | None = None, task: str = "hopper") -> Family:
    """Read a family directory (default: the one shipped for ``task``).

    Raises:
        ValueError: one line naming the file and what is wrong (missing, another format or task,
            a weight file that does not load, returns and lengths of different counts).
    """
    root = Path(path) if path is not None else FAMILY_DIR / task
    index = root / "family.json"
    if not index.is_file():
        raise ValueError(f"{index}: no family here")
    try:
        spec = json.loads(index.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{index}: not valid JSON ({e})") from None
    if spec.get("format") != FAMILY_FORMAT:
        raise ValueError(f"{index}: format {spec.get('format')!r}, expected {FAMILY_FORMAT!r}")
    env_id = TASKS[task].env_id
    if spec["env_id"] != env_id:
        raise ValueError(f"{index}: a family for {spec['env_id']}, not {env_id}")
    policies = []
    for entry in spec["policies"]:
        actor, info = load_actor(root / entry["file"], env_id)
        returns = np.asarray(entry["real_returns"], float)
        lengths = np.asarray(entry["real_lengths"], int)
        if returns.shape != lengths.shape or len(returns) != spec["episodes"]:
            raise ValueError(f"{index}: {entry['name']} has {len(returns)} returns and "
                             f"{len(lengths)} lengths for {spec['episodes']} episodes")
        policies.append(FamilyPolicy(entry["name"], entry["lineage"], entry["step"],
                                     ActorPolicy(actor, deterministic=True, metadata=info),
                                     returns, lengths))
    return Family(env_id, spec["seed"], spec["max_steps"], policies, spec["lineages"])


def select_snapshots(evals: list[dict], count: int, collapse_below: float = 0.5) -> list[int]:
    """Steps of ``count`` snapshots graded from the first (near-random) to the best, plus the
    deepest late collapse (a snapshot after the run first came within 80% of its best whose
    return fell below ``collapse_below`` times the best so far), chosen by ``return_mean``.

    Examples:
        >>> evals = [{"step": s, "return_mean": r} for s, r in
        ...          [(1, 0), (2, 100), (3, 500), (4, 1000), (5, 300), (6, 900)]]
        >>> select_snapshots(evals, 3)
        [1, 3, 4, 5]
    """
    returns = np.array([e["return_mean"] for e in evals])
    steps = [e["step"] for e in evals]
    best = int(np.argmax(returns))
    chosen = {0, best}
    for target in np.linspace(returns[0], returns[best], count)[1:-1]:
        candidates = [i for i in range(len(evals)) if i not in chosen]
        if candidates:
            chosen.add(min(candidates, key=lambda i: abs(returns[i] - target)))
    running_best = np.maximum.accumulate(returns)
    near_best = np.flatnonzero(returns >= 0.8 * returns[best])
    if len(near_best):
        later = np.arange(near_best[0] + 1, len(evals))
        drops = [i for i in later if returns[i] < collapse_below * running_best[i]]
        if drops:
            chosen.add(min(drops, key=lambda i: returns[i] / running_best[i]))
    return sorted(steps[i] for i in chosen)


def _snapshot(run_dir: Path, step: int) -> Path:
    return run_dir / "snapshots" / f"step_{step:07d}.safetensors"


def build_family(runs: dict[str, str | Path], out_dir: str | Path, per_lineage: int = 8,
                 episodes: int = 20, seed: int = 0, max_steps: int = 1000,
                 task: str = "hopper", screen_episodes: int = 3) -> dict:
    """Grade the snapshots of finished runs (``{lineage: run_dir}``) into a family directory.

    Every snapshot is first screened with ``screen_episodes`` mean-action episodes (seeds far
    from the family's), and the snapshots are chosen on those returns. Each chosen snapshot is run for ``episodes`` real episodes with its mean action, episode
    ``k`` from seed ``seed + k``, and its returns and lengths are stored beside its weights.
    """
    env_id = TASKS[task].env_id
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    real_env = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="sync",
                            max_episode_steps=max_steps)
    entries, lineages = [], {}
    for lineage, run_dir in runs.items():
        run_dir = Path(run_dir)
        state = json.loads((run_dir / "checkpoint.json").read_text())
        if state["config"]["env_id"] != env_id:
            raise ValueError(f"{run_dir}: a run on {state['config']['env_id']}, not {env_id}")
        # Grade by the mean action, as the family acts: a SAC snapshot's sampled-action return
        # (its training evaluation) can be three times its mean-action return, or a third.
        screen = []
        for e in progress(iterable=state["evals"], desc=f"screen {lineage}", unit="snapshot"):
            actor, _ = load_actor(_snapshot(run_dir, e["step"]), env_id)
            returns = evaluate_returns(ActorPolicy(actor, deterministic=True), env_id,
                                       screen_episodes, seed=SCREEN_SEED)
            screen.append({"step": e["step"], "return_mean": float(returns.mean())})
        lineages[lineage] = {"config": state["config"], "evals": state["evals"],
                             "mean_action_screen": screen}
        steps = select_snapshots(screen, per_lineage)
        for step in progress(iterable=steps, desc=f"grade {lineage}", unit="policy"):
            actor, info = load_actor(_snapshot(run_dir, step), env_id)
            returns, lengths, _ = run_matched(real_env, ActorPolicy(actor, deterministic=True),
                                              seed, max_steps)
            name = f"{lineage}-{step // 1000:03d}k"
            save_actor(actor, out_dir / f"{name}.safetensors", env_id, lineage=lineage,
                       step=step, return_mean=float(returns.mean()))
            entries.append({"name": name, "lineage": lineage, "step": step,
                            "file": f"{name}.safetensors",
                            "real_returns": returns.round(3).tolist(),
                            "real_lengths": lengths.tolist()})
    real_env.close()
    spec = {"format": FAMILY_FORMAT, "env_id": env_id, "episodes": episodes, "seed": seed,
            "max_steps": max_steps, "actions": "mean (deterministic)", "lineages": lineages,
            "policies": entries}
    with atomic_path(out_dir / "family.json") as tmp:
        tmp.write_text(json.dumps(spec, indent=1))
    return spec
