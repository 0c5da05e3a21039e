"""Fidelity on policies the model never saw: returns, rankings and falls, per lineage and pooled.

Shapes: ``P`` policies, ``K`` seed-matched episodes per policy (episode ``k`` of every policy starts
from seed ``seed + k`` in both envs).

``compare`` answers "how close is the learned return?" for any set of policies. This module is
the benchmark the models are judged by: a fixed, shipped family of policies from other algorithms
and seeds than the behaviour SAC (:mod:`dreamenv.evaluation.family`), with

* DOPE's metrics (Fu et al. 2021) per lineage and pooled: Spearman, regret@1 and the mean absolute
  error of normalised returns, each with a bootstrap confidence interval (episodes resampled with
  replacement, the same indices for the real and the learned episode of a seed, so the pairing
  survives); and the median relative return error;
* fall fidelity: per policy, the fraction of episodes that terminate before the time limit, real
  against learned, and the two-sample Kolmogorov-Smirnov statistic between the real and learned
  episode-length distributions.

Pooled rank metrics hide the errors that matter (a policy that always falls in the real env and
never in the learned one can leave the pooled Spearman at 0.95), so the report leads with the
per-lineage rows and the per-policy fall fractions.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from dreamenv._atomic import atomic_path
from dreamenv._progress import progress
from dreamenv.envs import dream_env_id
from dreamenv.evaluation.compare import rank_metrics
from dreamenv.evaluation.family import Family
from dreamenv.tasks import task_for_env

TARGETS = {"spearman": 0.9, "regret@1": 0.1, "relative_return_error_median": 0.15,
           "fall_fraction_gap_max": 0.2}
"""The promise a shipped model must keep on every lineage (issue 10)."""


def ks_two_sample(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic ``D = max |F_a - F_b|`` and its asymptotic p-value.

    Examples:
        >>> ks_two_sample(np.array([1, 2, 3]), np.array([1, 2, 3]))[0]
        0.0
        >>> ks_two_sample(np.array([1, 1]), np.array([5, 5]))[0]
        1.0
    """
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / len(a)
    cdf_b = np.searchsorted(b, grid, side="right") / len(b)
    d = float(np.abs(cdf_a - cdf_b).max())
    # Kolmogorov's limiting distribution with Stephens' small-sample correction.
    n = len(a) * len(b) / (len(a) + len(b))
    lam = (np.sqrt(n) + 0.12 + 0.11 / np.sqrt(n)) * d
    if lam < 1e-3:
        return d, 1.0
    j = np.arange(1, 101)
    p = float(np.clip(2 * np.sum((-1.0) ** (j - 1) * np.exp(-2 * (j * lam) ** 2)), 0.0, 1.0))
    return d, p


def fall_fidelity(real_lengths: np.ndarray, learned_lengths: np.ndarray, max_steps: int) -> dict:
    """Per-policy fall fractions and episode-length distributions, real against learned.

    Args:
        real_lengths, learned_lengths: ``(P, K)`` episode lengths; an episode shorter than
            ``max_steps`` ended by termination (a fall).
        max_steps: the time limit.

    Examples:
        >>> r = fall_fidelity(np.array([[1000, 300]]), np.array([[1000, 1000]]), 1000)
        >>> r["real_fall_fraction"], r["learned_fall_fraction"], r["fall_fraction_gap"]
        ([0.5], [0.0], [0.5])
    """
    real_fall = (np.asarray(real_lengths) < max_steps).mean(axis=1)
    learned_fall = (np.asarray(learned_lengths) < max_steps).mean(axis=1)
    ks = [ks_two_sample(r, lrn) for r, lrn in zip(real_lengths, learned_lengths)]
    return {"real_fall_fraction": real_fall.round(4).tolist(),
            "learned_fall_fraction": learned_fall.round(4).tolist(),
            "fall_fraction_gap": np.abs(real_fall - learned_fall).round(4).tolist(),
            "length_ks": [round(d, 4) for d, _ in ks],
            "length_ks_p": [round(p, 4) for _, p in ks]}


def bootstrap_rank_metrics(real: np.ndarray, learned: np.ndarray, samples: int = 1000,
                           seed: int = 0, level: float = 0.95) -> dict:
    """DOPE's metrics on the per-policy mean returns, with bootstrap confidence intervals.

    Args:
        real, learned: ``(P, K)`` returns of seed-matched episodes.
        samples: bootstrap resamples; each draws ``K`` episode indices per policy with
            replacement, the same for the real and the learned row.

    Returns:
        ``{metric: {"value": on all episodes, "mean": over resamples, "low", "high"}}``.
    """
    real, learned = np.asarray(real, float), np.asarray(learned, float)
    p, k = real.shape
    point = rank_metrics(real.mean(1), learned.mean(1))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, k, size=(samples, p, k))
    rows = np.arange(p)[None, :, None]
    real_means = real[rows, idx].mean(-1)  # (samples, P)
    learned_means = learned[rows, idx].mean(-1)
    draws = [rank_metrics(r, lrn) for r, lrn in zip(real_means, learned_means)]
    tail = (1 - level) / 2
    out = {}
    for key, value in point.items():
        values = np.array([d[key] for d in draws], float)
        values = values[np.isfinite(values)]
        out[key] = {"value": value, "mean": float(values.mean()) if len(values) else None,
                    "low": float(np.quantile(values, tail)) if len(values) else None,
                    "high": float(np.quantile(values, 1 - tail)) if len(values) else None}
    return out


def score(real_returns: np.ndarray, learned_returns: np.ndarray, real_lengths: np.ndarray,
          learned_lengths: np.ndarray, lineages: list[str], max_steps: int,
          samples: int = 1000) -> dict:
    """All fidelity metrics of one model on one family: per lineage, pooled, and against the
    targets. Arrays are ``(P, K)``; ``lineages[i]`` names the lineage of policy ``i``."""
    groups = {name: [i for i, g in enumerate(lineages) if g == name]
              for name in dict.fromkeys(lineages)}
    groups["pooled"] = list(range(len(lineages)))
    falls = fall_fidelity(real_lengths, learned_lengths, max_steps)
    report: dict = {"falls": falls, "groups": {}}
    for name, members in groups.items():
        if len(members) < 2:
            continue
        metrics = bootstrap_rank_metrics(real_returns[members], learned_returns[members],
                                         samples=samples)
        gap = max(falls["fall_fraction_gap"][i] for i in members)
        metrics["fall_fraction_gap_max"] = {"value": gap}
        metrics["meets_targets"] = _meets(metrics)
        report["groups"][name] = metrics
    lineage_rows = [g for n, g in report["groups"].items() if n != "pooled"]
    report["meets_targets"] = bool(lineage_rows) and all(g["meets_targets"] for g in lineage_rows)
    return report


def learned_episodes(family: Family, model: object = None, env_kwargs: dict | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths ``(P, K)`` of every family policy in the learned env, seed-matched
    with the family's real episodes.

    All ``P * K`` episodes run in one vector env (one model call per step for the whole
    family); row ``(p, k)`` is seeded ``family.seed + k``, and a row's result does not depend on
    the batch it is in (``DreamVectorEnv``'s contract), so this equals running each policy
    alone.
    """
    p, k = len(family.policies), family.episodes
    env = gym.make_vec(dream_env_id(task_for_env(family.env_id).name), num_envs=p * k,
                       model=model, max_episode_steps=family.max_steps, **(env_kwargs or {}))
    obs, _ = env.reset(seed=[family.seed + j for _ in range(p) for j in range(k)])
    rngs = [np.random.default_rng(family.seed) for _ in range(p)]
    returns, lengths = np.zeros(p * k), np.zeros(p * k, dtype=int)
    alive = np.ones(p * k, dtype=bool)
    bar = progress(total=family.max_steps, desc="learned env", unit="step")
    for _ in range(family.max_steps):
        actions = np.concatenate([fp.policy.act(obs[i * k:(i + 1) * k], rng)
                                  for i, (fp, rng) in enumerate(zip(family.policies, rngs))])
        obs, reward, terminated, truncated, _ = env.step(actions)
        returns += np.where(alive, reward, 0.0)
        lengths += alive
        alive &= ~(terminated | truncated)
        bar.update(1)
        if not alive.any():
            break
    bar.close()
    env.close()
    return returns.reshape(p, k), lengths.reshape(p, k)


def run_fidelity(models: dict[str, object], family: Family, env_kwargs: dict | None = None,
                 samples: int = 1000) -> dict:
    """The fidelity report of each model (a checkpoint directory, a model object, or ``None``
    for the shipped one) on ``family``."""
    real_returns = np.stack([fp.real_returns for fp in family.policies])
    real_lengths = np.stack([fp.real_lengths for fp in family.policies])
    lineages = [fp.lineage for fp in family.policies]
    report = {"env_id": family.env_id, "episodes": family.episodes, "seed": family.seed,
              "max_steps": family.max_steps, "env_kwargs": env_kwargs or {},
              "targets": TARGETS,
              "family": [{"name": fp.name, "lineage": fp.lineage, "step": fp.step}
                         for fp in family.policies],
              "models": {}}
    for label, model in models.items():
        learned_returns, learned_lengths = learned_episodes(family, model, env_kwargs)
        report["models"][label] = {
            "model": str(model) if model is not None else "shipped",
            "real_returns": real_returns.tolist(), "learned_returns": learned_returns.tolist(),
            "real_lengths": real_lengths.tolist(), "learned_lengths": learned_lengths.tolist(),
            "score": score(real_returns, learned_returns, real_lengths, learned_lengths,
                           lineages, family.max_steps, samples)}
    return report


def _meets(metrics: dict) -> bool:
    v = {key: metrics[key]["value"] for key in TARGETS}
    return (v["spearman"] >= TARGETS["spearman"] and v["regret@1"] <= TARGETS["regret@1"]
            and v["relative_return_error_median"] <= TARGETS["relative_return_error_median"]
            and v["fall_fraction_gap_max"] <= TARGETS["fall_fraction_gap_max"])


def format_report(report: dict) -> str:
    """The per-policy table, then one row of metrics per lineage and pooled, per model."""
    lines = []
    names = [p["name"] for p in report["family"]]
    for label, result in report["models"].items():
        lines.append(f"== model {label}")
        lines.append(f"{'policy':>22} {'real':>7} {'learned':>7} {'rel.err':>7} {'fall real':>9} "
                     f"{'learned':>7} {'len real':>8} {'learned':>7} {'KS':>5}")
        falls = result["score"]["falls"]
        for i, name in enumerate(names):
            real, learned = result["real_returns"][i], result["learned_returns"][i]
            rel = abs(np.mean(learned) - np.mean(real)) / max(abs(np.mean(real)), 1e-9)
            lines.append(
                f"{name:>22} {np.mean(real):7.0f} {np.mean(learned):7.0f} {100 * rel:6.1f}% "
                f"{falls['real_fall_fraction'][i]:9.2f} {falls['learned_fall_fraction'][i]:7.2f} "
                f"{np.mean(result['real_lengths'][i]):8.0f} "
                f"{np.mean(result['learned_lengths'][i]):7.0f} {falls['length_ks'][i]:5.2f}")
        lines.append(f"{'group':>22} {'Spearman [95% CI]':>22} {'regret@1 [CI]':>20} "
                     f"{'norm.abs.err':>12} {'med.rel.err':>11} {'max fall gap':>12}  targets")
        for group, m in result["score"]["groups"].items():
            lines.append(
                f"{group:>22} {_ci(m['spearman']):>22} {_ci(m['regret@1']):>20} "
                f"{m['normalised_abs_error_mean']['value']:12.3f} "
                f"{100 * m['relative_return_error_median']['value']:10.1f}% "
                f"{m['fall_fraction_gap_max']['value']:12.2f}  "
                f"{'met' if m['meets_targets'] else 'not met'}")
    return "\n".join(lines)


def _ci(m: dict) -> str:
    return f"{m['value']:.2f} [{m['low']:.2f}, {m['high']:.2f}]"


def write_report(report: dict, out_dir: str | Path) -> Path:
    """``fidelity.json`` and ``fidelity.png``: per model, learned against real return, fall
    fraction learned against real, and the real and learned episode-length distributions."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "fidelity.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    family = report["family"]
    lineages = list(dict.fromkeys(p["lineage"] for p in family))
    colours = {name: f"C{i}" for i, name in enumerate(lineages)}
    models = report["models"]
    fig, axes = plt.subplots(len(models), 3, figsize=(16, 4.6 * len(models)), squeeze=False)
    for (label, result), (ret_ax, fall_ax, len_ax) in zip(models.items(), axes):
        real = np.mean(result["real_returns"], axis=1)
        learned = np.mean(result["learned_returns"], axis=1)
        falls = result["score"]["falls"]
        for i, p in enumerate(family):
            c = colours[p["lineage"]]
            ret_ax.scatter(real[i], learned[i], color=c)
            fall_ax.scatter(falls["real_fall_fraction"][i], falls["learned_fall_fraction"][i],
                            color=c)
            ret_ax.annotate(p["name"], (real[i], learned[i]), fontsize=6,
                            textcoords="offset points", xytext=(3, 3))
            ys = np.full(len(result["real_lengths"][i]), i)
            len_ax.scatter(result["real_lengths"][i], ys - 0.15, marker="|", color="k", s=40)
            len_ax.scatter(result["learned_lengths"][i], ys + 0.15, marker="|", color=c, s=40)
        top = max(real.max(), learned.max())
        ret_ax.plot([0, top], [0, top], "k--", lw=0.8)
        pooled = result["score"]["groups"].get("pooled", {})
        title = f"{label}: return, learned vs real"
        if pooled:
            title += f"\npooled Spearman {pooled['spearman']['value']:.2f}, regret@1 " \
                     f"{pooled['regret@1']['value']:.2f}"
        ret_ax.set(xlabel="real return", ylabel="learned return", title=title)
        for name in lineages:
            ret_ax.scatter([], [], color=colours[name], label=name)
        ret_ax.legend(fontsize=7)
        fall_ax.fill_between([0, 1], [-0.2, 0.8], [0.2, 1.2], color="0.9", label="within 0.2")
        fall_ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        fall_ax.set(xlim=(-0.05, 1.05), ylim=(-0.05, 1.05), xlabel="real fall fraction",
                    ylabel="learned fall fraction", title="episodes ending before the limit")
        fall_ax.legend(fontsize=7)
        len_ax.set_yticks(range(len(family)), [p["name"] for p in family], fontsize=6)
        len_ax.set(xlabel="episode length (black: real, colour: learned)",
                    title="episode lengths, seed-matched")
    fig.tight_layout()
    with atomic_path(out_dir / "fidelity.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out_dir
