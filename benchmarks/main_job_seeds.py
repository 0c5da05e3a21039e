"""Seeds of the main job side by side: every run's real return per iteration, and a table.

Reads ``report.json`` of each ``dreamenv imagine`` run directory given (several seeds of one
task's recipe, say) and prints, per run: imagined steps, the first iteration whose real return
passed 1000, the best and the last real return (each iteration's 5 deterministic real-env
episodes), the validation model's pick where the run had one, and the final comparison's real
return of the last policy against the medium policy's. With ``--plot FILE`` it also draws every
run's real return against imagined steps, with the medium policy's real return from the runs'
final comparisons as a line.

Usage: ``python benchmarks/main_job_seeds.py runs/imagine-walker2d-s5 runs/imagine-walker2d-s6
... [--plot docs/FILE.png]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def summary(run: Path) -> dict:
    """One run's row of the table, and its curve."""
    if not (run / "report.json").is_file():
        raise SystemExit(f"{run}: no report.json; give dreamenv imagine run directories")
    report = json.loads((run / "report.json").read_text())
    log = report["log"]
    real = np.array([row["real_return"] for row in log], dtype=float)
    steps = np.array([row["env_steps"] for row in log], dtype=float)
    passed = np.flatnonzero(real > 1000)
    row = {"run": run.name, "steps": int(steps[-1]),
           "first_above_1000": int(steps[passed[0]]) if passed.size else None,
           "best": float(real.max()), "best_steps": int(steps[real.argmax()]),
           "last": float(real[-1]), "steps_curve": steps, "real_curve": real}
    validated = [r for r in log if r.get("validation_return") is not None]
    if validated:
        pick = max(validated, key=lambda r: r["validation_return"])
        row["pick"] = (pick["iteration"], float(pick["real_return"]))
    policies = (report.get("comparison") or {}).get("policies", {})
    for name in ("agent", "agent-validated", "medium"):
        if name in policies:
            row[f"final_{name}"] = float(policies[name]["real_return"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="imagine run directories")
    parser.add_argument("--plot", type=Path, default=None, help="write the curves here")
    args = parser.parse_args()
    rows = [summary(run) for run in args.runs]
    print(f"{'run':>28} {'steps':>9} {'>1000 at':>9} {'best (at)':>17} {'last':>6} "
          f"{'pick: real':>12} {'final: last / val. / medium':>28}")
    for r in rows:
        first = f"{r['first_above_1000'] / 1e6:.2f}M" if r["first_above_1000"] else "never"
        pick = f"{r['pick'][0]}: {r['pick'][1]:.0f}" if "pick" in r else "-"
        final = " / ".join(f"{r[key]:.0f}" if key in r else "-" for key in (
            "final_agent", "final_agent-validated", "final_medium"))
        print(f"{r['run']:>28} {r['steps'] / 1e6:8.2f}M {first:>9} "
              f"{r['best']:7.0f} ({r['best_steps'] / 1e6:.2f}M) {r['last']:6.0f} {pick:>12} "
              f"{final:>28}")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(8, 4.5))
        for r in rows:
            ax.plot(r["steps_curve"] / 1e6, r["real_curve"], label=r["run"], lw=1.2)
        medium = [r["final_medium"] for r in rows if "final_medium" in r]
        if medium:
            ax.axhline(float(np.mean(medium)), color="k", ls="--", lw=1,
                       label=f"medium policy (final comparisons, {np.mean(medium):.0f})")
        ax.set(xlabel="imagined steps (millions)", ylabel="real return (5 episodes)",
               title="The main job, seed by seed: real return of every iteration")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
