"""The examples a user copies run as written."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_env(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart_env.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert "steps, return" in out[0]
    assert out[1] == "DreamVectorEnv (1024, 11) (1024,)"
