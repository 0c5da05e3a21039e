"""DyDiff's claim, measured: are injected trajectories closer to the real env than stepping?

From the same dataset states, the same learning policy runs in the real Hopper-v5 (restarted in
each state's simulator state) and in every model. At each horizon ``h``, the state error is the
RMS over trajectories still alive in both, and over dimensions each divided by the training
data's state std (the open-loop tables' unit). Rows: DyDiff with ``K`` injection rounds (``K =
0`` is its start rollout alone), the step-wise env (the step model closed loop), and any other
step model given (the MLP ensemble).

Injection also has to move the actions towards the learning policy's: ``action_error`` per
round is the mean ``|a - pi(s)|`` between the actions a round denoised under and the policy's
actions on the states it produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from dreamenv._atomic import atomic_path
from dreamenv.datasets.dataset import OfflineDataset
from dreamenv.models.interface import DynamicsModel
from dreamenv.models.termination import TerminationFn
from dreamenv.trajectories.generate import (
    TrajectoryModel,
    closed_loop,
    cut_at_termination,
    generate,
)
from dreamenv.trajectories.starts import draw_starts, real_trajectories

HORIZONS = (1, 5, 10, 25, 50, 100)


def state_error(states: np.ndarray, lengths: np.ndarray, real: dict[str, np.ndarray],
                std: np.ndarray, horizons: tuple[int, ...]) -> dict[int, dict]:
    """Per horizon: normalised state RMSE and the rows it is over (alive in both at ``h``)."""
    out = {}
    for h in horizons:
        if h >= states.shape[1]:
            break
        alive = (lengths >= h) & (real["lengths"] >= h)
        if not alive.any():
            continue
        err = (states[alive, h] - real["states"][alive, h]) / std
        out[h] = {"rmse": float(np.sqrt(np.mean(err**2))), "rows": int(alive.sum())}
    return out


def measure(trajectory_model: TrajectoryModel, step_model: DynamicsModel, policy: object,
            dataset: OfflineDataset, env_id: str, terminated: TerminationFn,
            rounds: tuple[int, ...] = (0, 1, 2, 5), starts: int = 256, horizon: int = 100,
            blend: float = 0.5, others: dict[str, DynamicsModel] | None = None,
            seed: int = 0, start_model: DynamicsModel | None = None) -> dict:
    """The whole comparison (module docstring) in one run; JSON-ready. DyDiff's start rollout
    runs in ``start_model`` (DyDiff's is the MLP ensemble; default: ``step_model``)."""
    start_model = step_model if start_model is None else start_model
    longest = max(m.history_len for m in (trajectory_model, step_model, start_model,
                                          *(others or {}).values()))
    first = draw_starts(dataset, starts, longest, seed)
    std = step_model.state_norm.std.numpy()
    real = real_trajectories(policy, first, horizon, env_id, seed)
    horizons = tuple(h for h in HORIZONS if h <= horizon)
    report: dict = {"starts": len(first.rows), "horizon": horizon, "blend": blend,
                    "real_fall_fraction": float(real["terminals"].mean()), "rows": {}}
    for label, model in {"step-wise env": step_model, **(others or {})}.items():
        rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        states, *_ = closed_loop(model, policy, first.history.tail(model.history_len), horizon,
                                   rng, generator)
        lengths, terminals = cut_at_termination(states, terminated)
        report["rows"][label] = {"error": state_error(states, lengths, real, std, horizons),
                                 "fall_fraction": float(terminals.mean())}
    for k in rounds:
        out = generate(trajectory_model, start_model, policy, first.history, horizon, k,
                       terminated, blend=blend, seed=seed)
        report["rows"][f"DyDiff K={k}"] = {
            "error": state_error(out.states, out.lengths, real, std, horizons),
            "fall_fraction": float(out.terminals.mean()),
            "action_error": out.rounds_action_error}
    return report


def format_report(report: dict) -> str:
    horizons = sorted({h for row in report["rows"].values() for h in row["error"]})
    lines = [f"{'model':>16} " + " ".join(f"{'h=' + str(h):>8}" for h in horizons)
             + "   falls   action error per round"]
    for label, row in report["rows"].items():
        cells = " ".join(f"{row['error'][h]['rmse']:8.3f}" if h in row["error"] else
                         f"{'-':>8}" for h in horizons)
        actions = " ".join(f"{e:.3f}" for e in row.get("action_error", []))
        lines.append(f"{label:>16} {cells}   {row['fall_fraction']:5.2f}   {actions}")
    lines.append(f"{'real':>16} falls {report['real_fall_fraction']:.2f} "
                 f"({report['starts']} starts)")
    return "\n".join(lines)


def write_report(report: dict, out_dir: str | Path) -> Path:
    """``injection.json`` and ``injection.png`` (error against horizon; action error by round)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "injection.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": (2, 1)})
    for label, row in report["rows"].items():
        hs = sorted(row["error"])
        style = "--" if label.startswith("DyDiff") else "-"
        ax.plot(hs, [row["error"][h]["rmse"] for h in hs], style, marker="o", label=label)
    # The rounds of a run with K rounds are the first K of any longer run (same seed): one line.
    longest = max(report["rows"].items(), key=lambda kv: len(kv[1].get("action_error", [])))
    if longest[1].get("action_error"):
        errors = longest[1]["action_error"]
        bx.plot(range(1, len(errors) + 1), errors, "C3", marker="o", label=longest[0])
    ax.set(xscale="log", yscale="log", xlabel="horizon (steps)",
           ylabel="state error vs real (normalised RMSE)",
           title="same policy, same start states: model against the real env")
    ax.legend(fontsize=7)
    bx.set(xlabel="injection round", ylabel="mean |a - policy(s)|",
           title="actions against the policy")
    bx.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(out_dir / "injection.png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out_dir
