"""Atomic file writes: write beside the target, fsync, then rename over it.

A reader either sees the old file, the complete new one, or nothing; never a half-written file that
later loads as valid. Every checkpoint, weight file and HDF5 dataset in dreamenv is written
through here (a Minari export is a directory Minari writes itself; see datasets/minari.py); a
directory (an RLlib checkpoint) is written beside its target and swapped in whole.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` if the block succeeds.

    The temporary file is removed if the block raises (or the process dies before the rename, in
    which case only a ``.tmp-*`` file is left behind, which no loader accepts).

    Examples:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> with atomic_path(d / "x.txt") as tmp:
        ...     _ = tmp.write_text("hello")
        >>> (d / "x.txt").read_text()
        'hello'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The suffix is kept so writers that pick a format by extension (video, images) work.
    fd, tmp_name = tempfile.mkstemp(prefix=f".tmp-{target.name}.", suffix=target.suffix,
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp creates 0600 files; give the result the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def swap_in_dir(fresh: Path, target: Path) -> None:
    """Move the completely written directory ``fresh`` onto ``target``: the old one is renamed
    aside first, so a kill leaves the old or the new directory (``recover_dir`` puts an old one
    left aside back), never half of one."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    fresh.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(target: Path) -> None:
    """After a kill inside :func:`swap_in_dir`: put the complete old directory back."""
    old = target.with_name(target.name + ".old")
    if not target.exists() and old.is_dir():
        old.rename(target)
