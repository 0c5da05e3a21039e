"""Return fidelity: the same policies, seed-matched, in the learned env and in the real env.

A policy is anything with ``act(obs, rng) -> actions`` over a batch (dreamenv's own policies), or
a plain callable ``fn(obs) -> actions`` with ``obs`` ``(B, S)`` float64 and actions ``(B, A)``.
Episode ``i`` of every policy starts from seed ``seed + i`` in both envs, so both start from the
same observation; each env then runs closed loop on its own observations.

Across policies the report gives DOPE's metrics (Fu et al. 2021): the absolute error of
normalised returns ``(v - worst) / (best - worst)`` (worst and best real returns in the set), the
Spearman rank correlation of learned against real returns, and
``regret@1 = (max real - real return of the policy the learned env ranks first) / max real``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from dreamenv._atomic import atomic_path
from dreamenv._progress import progress
from dreamenv.envs import dream_env_id
from dreamenv.tasks import get_task

HORIZONS = (1, 10, 25, 50, 100, 200, 500, 1000)


class CallablePolicy:
    """Adapt ``fn(obs) -> actions`` to ``act(obs, rng)``."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray]):
        self.fn = fn

    def act(self, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.fn(obs), dtype=np.float32)


def as_policy(policy: object) -> object:
    if callable(getattr(policy, "act", None)):
        return policy
    if callable(policy):
        return CallablePolicy(policy)
    raise TypeError(f"a policy needs act(obs, rng) or to be callable, got {type(policy)}")


def run_matched(env: gym.vector.VectorEnv, policy: object, seed: int, max_steps: int,
                info_key: str | None = None) -> tuple[np.ndarray, ...]:
    """One episode per row of ``env`` (row ``i`` seeded ``seed + i``): returns ``(K,)``,
    lengths ``(K,)`` and the visited observations ``(K, T, S)`` (NaN after an episode ends);
    with ``info_key`` (e.g. ``"uncertainty"``), also that info value of every step ``(K, T)``."""
    policy = as_policy(policy)
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    k = env.num_envs
    returns, lengths = np.zeros(k), np.zeros(k, dtype=int)
    states = np.full((k, max_steps + 1, obs.shape[1]), np.nan)
    states[:, 0] = obs
    infos = np.full((k, max_steps), np.nan)
    alive = np.ones(k, dtype=bool)
    for t in range(max_steps):
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, rng))
        returns += np.where(alive, reward, 0.0)
        lengths += alive
        states[alive, t + 1] = obs[alive]
        if info_key is not None:
            infos[alive, t] = np.asarray(info[info_key])[alive]
        alive &= ~(terminated | truncated)
        if not alive.any():
            break
    return (returns, lengths, states) if info_key is None else (returns, lengths, states, infos)


def rank_metrics(real: np.ndarray, learned: np.ndarray) -> dict:
    """DOPE's metrics over policies (see the module docstring)."""
    worst, best = real.min(), real.max()
    span = max(best - worst, 1e-9)
    normalised_error = np.abs((learned - worst) / span - (real - worst) / span)
    chosen = int(np.argmax(learned))
    return {"spearman": spearman(real, learned),
            "regret@1": float((best - real[chosen]) / abs(best)) if best else 0.0,
            "normalised_abs_error_mean": float(normalised_error.mean()),
            "relative_return_error_median": float(np.median(
                np.abs(learned - real) / np.maximum(np.abs(real), 1e-9)))}


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties).

    Examples:
        >>> spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 30.0, 20.0]))
        0.5
    """
    def ranks(x: np.ndarray) -> np.ndarray:
        order = np.argsort(x, kind="stable")
        r = np.empty(len(x))
        r[order] = np.arange(len(x), dtype=float)
        for value in np.unique(x):  # ties share their mean rank
            r[x == value] = r[x == value].mean()
        return r
    ra, rb = ranks(np.asarray(a, float)), ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def compare_policies(policies: dict[str, object], episodes: int = 5, seed: int = 0,
                     max_steps: int = 1000, task: str = "hopper", model: object = None,
                     env_kwargs: dict | None = None) -> dict:
    """Seed-matched returns of every policy in the learned and the real env, and the metrics."""
    env_id = get_task(task).env_id
    learned_env = gym.make_vec(dream_env_id(task), num_envs=episodes, model=model,
                               max_episode_steps=max_steps, **(env_kwargs or {}))
    real_env = gym.make_vec(env_id, num_envs=episodes, vectorization_mode="sync",
                            max_episode_steps=max_steps)
    state_std = getattr(getattr(learned_env.dynamics, "state_norm", None), "std", None)
    state_std = None if state_std is None else state_std.cpu().numpy()
    per_policy, summary = compare_in(policies, learned_env, real_env, seed, max_steps, task,
                                     state_std)
    return {"env_id": env_id, "episodes": episodes, "seed": seed, "max_steps": max_steps,
            "policies": per_policy, "summary": summary}


def compare_in(policies: dict[str, object], learned_env: object, real_env: object, seed: int,
               max_steps: int, task: str = "hopper", state_std: np.ndarray | None = None
               ) -> tuple[dict, dict]:
    """Per-policy returns and state errors in two vector envs of the same rows (anything
    :func:`run_matched` steps), and the rank metrics across policies."""
    per_policy = {}
    known = get_task(task)
    scored = known.expert_return is not None  # D4RL reference returns exist
    for name, policy in progress(iterable=list(policies.items()), desc="compare",
                                 unit="policy"):
        real_ret, real_len, real_states = run_matched(real_env, policy, seed, max_steps)
        dream_ret, dream_len, dream_states = run_matched(learned_env, policy, seed, max_steps)
        scale = (np.asarray(state_std) if state_std is not None
                 else np.nanstd(real_states, axis=(0, 1)) + 1e-6)
        err = np.sqrt(np.mean(((dream_states - real_states) / scale) ** 2, axis=2))  # NaN: ended
        per_policy[name] = {
            "real_return": float(real_ret.mean()), "real_return_std": float(real_ret.std()),
            "learned_return": float(dream_ret.mean()),
            "learned_return_std": float(dream_ret.std()),
            "abs_return_error": float(abs(dream_ret.mean() - real_ret.mean())),
            "relative_return_error": float(abs(dream_ret.mean() - real_ret.mean())
                                           / max(abs(real_ret.mean()), 1e-9)),
            "real_length": float(real_len.mean()), "learned_length": float(dream_len.mean()),
            "state_rmse": {h: _nanmean(err[:, h]) for h in HORIZONS if h <= max_steps},
            # Per episode: a mean hides a policy that fails in some episodes (a HalfCheetah
            # that flips onto its back) and the largest |state| per dimension shows what the
            # learned env never visits.
            "real_returns": real_ret.tolist(), "learned_returns": dream_ret.tolist(),
            "real_max_abs_state": np.nanmax(np.abs(real_states), axis=1).tolist(),
            "learned_max_abs_state": np.nanmax(np.abs(dream_states), axis=1).tolist(),
        }
        if scored:
            per_policy[name]["normalized_score_real"] = known.normalized_score(
                float(real_ret.mean()))
    real = np.array([p["real_return"] for p in per_policy.values()])
    learned = np.array([p["learned_return"] for p in per_policy.values()])
    return per_policy, (rank_metrics(real, learned) if len(per_policy) > 1 else {})


def _nanmean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else None


def format_report(report: dict) -> str:
    lines = [f"{'policy':>16} {'real':>8} {'learned':>8} {'rel.err':>8} {'len real':>8} "
             f"{'len learned':>11}"]
    for name, p in report["policies"].items():
        lines.append(f"{name:>16} {p['real_return']:8.1f} {p['learned_return']:8.1f} "
                     f"{100 * p['relative_return_error']:7.1f}% {p['real_length']:8.0f} "
                     f"{p['learned_length']:11.0f}")
    for key, value in report["summary"].items():
        lines.append(f"{key}: {value:.3f}")
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | Path) -> Path:
    """``compare.json`` and ``compare.png`` (learned vs real returns; state error vs horizon)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    with atomic_path(out_dir / "compare.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    pols = report["policies"]
    real = [p["real_return"] for p in pols.values()]
    learned = [p["learned_return"] for p in pols.values()]
    left.errorbar(real, learned, xerr=[p["real_return_std"] for p in pols.values()],
                  yerr=[p["learned_return_std"] for p in pols.values()], fmt="o", capsize=3)
    for name, x, y in zip(pols, real, learned):
        left.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    lo, hi = min(real + learned), max(real + learned)
    left.plot([lo, hi], [lo, hi], "k--", lw=0.8, label="learned = real")
    summary = report["summary"]
    title = "return: learned vs real"
    if summary:
        title += f"\nSpearman {summary['spearman']:.2f}, regret@1 {summary['regret@1']:.2f}"
    left.set(xlabel="real return", ylabel="learned (DyDiff) return", title=title)
    left.legend()
    for name, p in pols.items():
        hs = [int(h) for h, v in p["state_rmse"].items() if v is not None]
        right.plot(hs, [p["state_rmse"][h] for h in hs], marker="o", label=name)
    right.set(xscale="log", yscale="log", xlabel="step", ylabel="normalised state RMSE",
              title="learned vs real state, same seed and policy")
    right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out_dir / "compare.png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out_dir
