"""Pick the expert and medium behaviour policies from a finished SAC run, as D4RL grades them.

* expert: the best snapshot of the run (the top three by their training evaluation are re-evaluated
  over ``episodes`` episodes and the best kept);
* medium: the *first* snapshot whose return is a third to a half of the expert's (re-evaluated
  over ``episodes`` episodes): D4RL's medium policy is an early-stopped one, and
  ``medium-replay`` is the buffer up to the moment the run first reached that level. (A late
  snapshot where SAC's return dips into the band is a different, collapsed policy.)

Returns are those of the *sampling* policy, since that is what generates the datasets.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dreamenv.behaviour.policy import WEIGHTS_DIR, ActorPolicy, load_actor, save_actor
from dreamenv.datasets.rollout import evaluate_returns

MEDIUM_BAND = (1 / 3, 1 / 2)


def _evaluate(path: Path, env_id: str, episodes: int, seed: int) -> dict:
    actor, info = load_actor(path, env_id)
    returns = evaluate_returns(ActorPolicy(actor), env_id, episodes, seed)
    return {"step": info["step"], "return_mean": float(returns.mean()),
            "return_std": float(returns.std()), "returns": returns.round(1).tolist()}


def select_policies(run_dir: str | Path, out_dir: str | Path | None = None,
                    episodes: int = 10, seed: int = 0, best_only_as: str | None = None) -> dict:
    """Write ``<env>-expert`` and ``<env>-medium`` weights to ``out_dir``; return the report.

    With ``best_only_as="other"`` only the run's best snapshot is kept, saved under that level
    (a policy from an independent run, for evaluating models on behaviour no dataset holds).
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir or WEIGHTS_DIR)
    if not (run_dir / "checkpoint.json").is_file():
        raise ValueError(f"{run_dir}: no SAC run here (no checkpoint.json)")
    state = json.loads((run_dir / "checkpoint.json").read_text())
    env_id, evals = state["config"]["env_id"], state["evals"]
    snapshot = {e["step"]: run_dir / "snapshots" / f"step_{e['step']:07d}.safetensors"
                for e in evals}

    top = sorted(evals, key=lambda e: -e["return_mean"])[:3]
    expert = max((_evaluate(snapshot[e["step"]], env_id, episodes, seed) for e in top),
                 key=lambda r: r["return_mean"])
    if best_only_as:
        _save(snapshot[expert["step"]], out_dir, env_id, best_only_as, expert, state["config"])
        return {"env_id": env_id, "seed": state["config"]["seed"], best_only_as: expert}
    lo, hi = (f * expert["return_mean"] for f in MEDIUM_BAND)
    in_band = [e for e in evals if lo <= e["return_mean"] <= hi and e["step"] < expert["step"]]
    in_band.sort(key=lambda e: e["step"])
    medium = None
    for e in in_band:
        candidate = _evaluate(snapshot[e["step"]], env_id, episodes, seed)
        if lo <= candidate["return_mean"] <= hi:
            medium = candidate
            break
    if medium is None:
        raise ValueError(f"{run_dir}: no snapshot between {lo:.0f} and {hi:.0f} (a third to a "
                         "half of the expert's return); evaluate more often")

    report = {"env_id": env_id, "seed": state["config"]["seed"], "episodes": episodes,
              "eval_seed": seed, "expert": expert, "medium": medium}
    for level, result in (("expert", expert), ("medium", medium)):
        _save(snapshot[result["step"]], out_dir, env_id, level, result, state["config"])
    random = _random_returns(env_id, episodes, seed)
    report["random"] = {"return_mean": float(random.mean()), "return_std": float(random.std())}
    return report


def _save(snapshot: Path, out_dir: Path, env_id: str, level: str, result: dict,
          sac_config: dict) -> None:
    actor, _ = load_actor(snapshot, env_id)
    save_actor(actor, out_dir / f"{env_id}-{level}.safetensors", env_id, level=level,
               step=result["step"], seed=sac_config["seed"], return_mean=result["return_mean"],
               return_std=result["return_std"], sac_config=sac_config)


def _random_returns(env_id: str, episodes: int, seed: int) -> np.ndarray:
    import gymnasium as gym

    from dreamenv.behaviour.policy import RandomPolicy
    space = gym.make(env_id).action_space
    return evaluate_returns(RandomPolicy(space.low, space.high), env_id, episodes, seed)
