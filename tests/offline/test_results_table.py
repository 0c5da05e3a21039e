"""The README's offline-RL table comes from the committed result files in one quick command that
never makes a dataset (on a fresh machine medium-replay would mean the whole behaviour SAC run)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_table_from_committed_results_without_datasets(tmp_path):
    env = {**os.environ, "DREAMENV_DATA": str(tmp_path / "empty"), "MPLBACKEND": "Agg"}
    plot = tmp_path / "curves.png"
    out = subprocess.run([sys.executable, "benchmarks/offline_rl.py", "table", "--plot", str(plot)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in out.stdout.splitlines()
            if line.startswith("| hopper-")}
    assert set(rows) == {"hopper-medium", "hopper-medium-replay", "hopper-medium-expert"}
    for dataset, line in rows.items():
        # Three sources, three seeds each: the "at least 3 seeds".
        assert line.count("(3)") == 3, f"{dataset}: {line}"
        assert "not run" not in line
    assert plot.stat().st_size > 10_000
    assert not (tmp_path / "empty" / "datasets").exists()
    # Every README row is what the command prints.
    readme = (ROOT / "README.md").read_text()
    for line in rows.values():
        assert line in readme
