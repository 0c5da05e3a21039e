"""The main job's ``report.json`` (config, per-iteration log, final comparison) and the
summary ``dreamenv imagine`` prints from it."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dreamenv._atomic import atomic_path

if TYPE_CHECKING:
    from dreamenv.integrations.imagine_config import ImagineConfig


def write_run_report(path: Path, cfg: ImagineConfig, log: list[dict],
                     comparison: dict | None) -> dict:
    report = {"config": asdict(cfg), "log": log, "final": log[-1] if log else None,
              "comparison": comparison}
    with atomic_path(path) as tmp:  # strict JSON: an iteration with no finished episode -> null
        tmp.write_text(json.dumps(null_for_nan(report), indent=1, allow_nan=False))
    return report


def null_for_nan(value):
    """``value`` with every non-finite float replaced by None (JSON's null)."""
    if isinstance(value, dict):
        return {key: null_for_nan(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [null_for_nan(item) for item in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def nan_for_null(row: dict) -> dict:
    """A log row read back from ``report.json``: its nulls are the NaNs it was written with."""
    return {key: float("nan") if item is None else item for key, item in row.items()}


def format_summary(report: dict) -> str:
    final = report["final"]
    lines = [f"after {final['iteration']} iterations, {final['env_steps']:,} imagined steps, "
             f"{final['time_s'] / 60:.1f} min: imagined return {final['imagined_return']:.1f}, "
             f"real return {final['real_return']:.1f}"]
    if "imagined_steps_per_s" in final:  # runs logged before the timing columns lack them
        lines.append(f"last iteration: {final['imagined_steps_per_s']:,.0f} imagined steps/s; "
                     f"time in the model {final['model_share']:.0%}, the learner "
                     f"{final['learner_share']:.0%}, real-env evaluation "
                     f"{final['evaluation_share']:.0%}")
    validated = [r for r in report["log"] if np.isfinite(r.get("validation_return", np.nan))]
    if validated:
        best = max(validated, key=lambda r: r["validation_return"])
        lines.append(f"best validation return {best['validation_return']:.1f} at iteration "
                     f"{best['iteration']} (best_checkpoint/; its real return "
                     f"{best['real_return']:.1f})")
    if report.get("comparison"):
        from dreamenv.evaluation.compare import format_report
        lines.append(format_report(report["comparison"]))
    return "\n".join(lines)
