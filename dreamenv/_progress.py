"""One place that decides how progress is shown (tqdm on a terminal, silent in logs and tests)."""

from __future__ import annotations

import os
from typing import Any

from tqdm.auto import tqdm


def progress(**kwargs: Any) -> tqdm:
    """A tqdm bar; ``DREAMENV_PROGRESS=1`` forces it on, ``0`` off, unset shows it on a TTY only."""
    flag = os.environ.get("DREAMENV_PROGRESS")
    disable = None if flag is None else flag == "0"
    return tqdm(disable=disable, dynamic_ncols=True, mininterval=1.0, **kwargs)
