"""Sources of sampling noise: a ``torch.Generator`` for a whole batch, or one stream per row.

A vector env of ``N`` rows must give, row for row, what ``N`` single envs with the same seeds give,
so that a result never depends on how the envs were batched. One ``torch.Generator`` per batch
cannot do that: row ``i``'s noise would depend on how many rows come before it. :class:`RowNoise`
gives every row its own SplitMix64 stream (a 64-bit key and a counter; Steele, Lea & Flood 2014)
and draws for all rows at once with vectorised numpy, so a row's noise depends only on its key and
on how many numbers it has drawn.

Models call :func:`randn` / :func:`rand` with whatever source the caller supplied.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on an array of uint64 states, in place (NumPy wraps array
    arithmetic on overflow without a warning)."""
    z ^= z >> np.uint64(30)
    z *= MIX1
    z ^= z >> np.uint64(27)
    z *= MIX2
    z ^= z >> np.uint64(31)
    return z


class RowNoise:
    """One reproducible random stream per batch row.

    Examples:
        >>> a = RowNoise(np.array([1, 2, 3], dtype=np.uint64)).randn((3, 4))
        >>> b = RowNoise(np.array([2], dtype=np.uint64)).randn((1, 4))
        >>> bool(torch.equal(a[1:2], b))   # row 1 of a batch == the same key alone
        True
    """

    def __init__(self, keys: np.ndarray):
        self.keys = np.array(keys, dtype=np.uint64).reshape(-1)
        self.counters = np.zeros(len(self.keys), dtype=np.uint64)

    def __len__(self) -> int:
        return len(self.keys)

    def reseed(self, rows: np.ndarray | slice, keys: np.ndarray) -> None:
        """Give ``rows`` new keys and restart their streams."""
        self.keys[rows] = np.asarray(keys, dtype=np.uint64)
        self.counters[rows] = 0

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray:
        """``shape`` float32 uniforms in the open interval (0, 1) on a 2^-24 grid (float32's
        resolution); ``shape[0]`` is the batch."""
        if not shape or shape[0] != len(self.keys):
            raise ValueError(f"noise for {len(self.keys)} rows, asked for shape {tuple(shape)}")
        per_row = _per_row(shape)
        state = _steps(per_row) + self.counters[:, None] * GOLDEN
        state += self.keys[:, None]
        bits = _splitmix64(state)
        self.counters += np.uint64(per_row)
        bits >>= np.uint64(40)
        u = bits.astype(np.float32)
        u += np.float32(0.5)
        u *= np.float32(2.0**-24)
        return u.reshape(shape)

    def randn(self, shape: tuple[int, ...]) -> torch.Tensor:
        """``shape`` float32 standard normals (Box-Muller over this row's uniforms)."""
        per_row = _per_row(shape)
        half = (per_row + 1) // 2
        u = self.uniform((shape[0], 2 * half))
        radius = np.log(u[:, :half])
        radius *= np.float32(-2.0)
        np.sqrt(radius, out=radius)
        angle = u[:, half:]
        angle *= np.float32(2.0 * np.pi)
        z = np.empty_like(u)
        np.cos(angle, out=z[:, :half])
        np.sin(angle, out=z[:, half:])
        z[:, :half] *= radius
        z[:, half:] *= radius
        return torch.from_numpy(z[:, :per_row].reshape(shape))


def _per_row(shape: tuple[int, ...]) -> int:
    n = 1
    for size in shape[1:]:
        n *= int(size)
    return n


@functools.lru_cache(maxsize=32)
def _steps(n: int) -> np.ndarray:
    """``GOLDEN * [1, ..., n]``: the SplitMix64 increments of the next ``n`` draws."""
    with np.errstate(over="ignore"):
        return np.arange(1, n + 1, dtype=np.uint64) * GOLDEN


Noise = torch.Generator | RowNoise | None


def randn(shape: tuple[int, ...], source: Noise,
          device: str | torch.device | None = None) -> torch.Tensor:
    """Standard normals of ``shape`` from ``source`` (``None``: torch's global generator), on
    ``device`` (a ``RowNoise`` draws on the CPU)."""
    if isinstance(source, RowNoise):
        return source.randn(shape)
    return torch.randn(shape, generator=source, device=device)


def rand(shape: tuple[int, ...], source: Noise) -> torch.Tensor:
    """Uniforms in [0, 1) of ``shape`` from ``source``."""
    if isinstance(source, RowNoise):
        return torch.from_numpy(source.uniform(shape))
    return torch.rand(shape, generator=source)
