"""Where dreamenv keeps generated files: ``$DREAMENV_DATA`` or ``~/.dreamenv`` by default."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """Root of the data cache (datasets, behaviour-policy runs); created on first use."""
    root = Path(os.environ.get("DREAMENV_DATA", Path.home() / ".dreamenv")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root
