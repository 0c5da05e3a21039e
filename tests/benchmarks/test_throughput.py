"""``benchmarks/throughput.py`` runs at every size it is given: ``--sizes 1`` measures the single
env and a vector env of one row, NumPy and tensors (it once built the tensor row with
``gym.make``, which has no tensor interface, and crashed)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_throughput_at_one_row_measures_single_and_vector_envs():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "benchmarks/throughput.py", "--sizes", "1", "--threads",
                          "1", "--no-ensemble", "--seconds", "0.1"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split() for line in out.stdout.splitlines()]
    labels = {" ".join(r[:r.index("1")]) for r in rows if "1" in r and r[0].startswith("DyDiff")}
    assert labels == {"DyDiff-Hopper", "DyDiff-Hopper make_vec", "DyDiff-Hopper make_vec, tensors"}
