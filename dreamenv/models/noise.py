"""Sources of sampling noise: a ``torch.Generator`` for a whole batch, or one stream per row.

A vector env of ``N`` rows must give, row for row, what ``N`` single envs with the same seeds give,
so that a result never depends on how the envs were batched. One ``torch.Generator`` per batch
cannot do that: row ``i``'s noise would depend on how many rows come before it. :class:`RowNoise`
gives every row its own SplitMix64 stream (a 64-bit key and a counter; Steele, Lea & Flood 2014)
and draws for all rows at once with vectorised numpy, so a row's noise depends only on its key and
on how many numbers it has drawn. On a GPU it draws the same streams with torch on the device
(``device=``): the same uniforms bit for bit, normals to float rounding.

Models call :func:`randn` / :func:`rand` with whatever source the caller supplied.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def _as_int64(value: np.uint64) -> int:
    """A uint64 constant as the int64 with the same bits (torch has no wrapping uint64)."""
    return int(np.array(value, dtype=np.uint64).view(np.int64))


def _shift(z: torch.Tensor, bits: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (torch's ``>>`` is arithmetic)."""
    return (z >> bits) & ((1 << (64 - bits)) - 1)


def _splitmix64_torch(z: torch.Tensor) -> torch.Tensor:
    """:func:`_splitmix64` on int64 tensors (any device; products wrap as uint64's do)."""
    z = z ^ _shift(z, 30)
    z = z * _as_int64(MIX1)
    z = z ^ _shift(z, 27)
    z = z * _as_int64(MIX2)
    return z ^ _shift(z, 31)


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's output function on an array of uint64 states, in place (NumPy wraps array
    arithmetic on overflow without a warning)."""
    z ^= z >> np.uint64(30)
    z *= MIX1
    z ^= z >> np.uint64(27)
    z *= MIX2
    z ^= z >> np.uint64(31)
    return z


def row_keys(seeds: np.ndarray) -> np.ndarray:
    """Stream keys for integer seeds: SplitMix64 of ``seed * GOLDEN``, so that neighbouring
    seeds (``s``, ``s + 1``, ... for the rows of a batch) give unrelated streams.

    Examples:
        >>> keys = row_keys(np.array([0, 1]))
        >>> keys.dtype.name, bool(keys[0] != keys[1])
        ('uint64', True)
    """
    return _splitmix64(np.asarray(seeds, dtype=np.uint64) * GOLDEN)


class RowNoise:
    """One reproducible random stream per batch row.

    Examples:
        >>> a = RowNoise(np.array([1, 2, 3], dtype=np.uint64)).randn((3, 4))
        >>> b = RowNoise(np.array([2], dtype=np.uint64)).randn((1, 4))
        >>> bool(torch.equal(a[1:2], b))   # row 1 of a batch == the same key alone
        True
    """

    def __init__(self, keys: np.ndarray, device: str | torch.device | None = None):
        self.device = None if device is None else torch.device(device)
        self.keys = np.array(keys, dtype=np.uint64).reshape(-1)
        self.counters = np.zeros(len(self.keys), dtype=np.uint64)
        self._ahead: _DrawnAhead | None = None
        if self.device is not None:  # the streams' state lives on the device, as int64 bits
            self.keys = torch.from_numpy(self.keys.view(np.int64)).to(self.device)
            self.counters = torch.zeros(len(self.keys), dtype=torch.int64, device=self.device)

    def __len__(self) -> int:
        return len(self.keys)

    def reseed(self, rows: np.ndarray | slice, keys: np.ndarray) -> None:
        """Give ``rows`` new keys and restart their streams."""
        keys = np.asarray(keys, dtype=np.uint64)
        if self.device is not None:
            rows = torch.as_tensor(rows, device=self.device) if not isinstance(rows, slice) \
                else rows
            keys = torch.from_numpy(keys.view(np.int64)).to(self.device)
        self.keys[rows] = keys
        self.counters[rows] = 0

    def bits(self, shape: tuple[int, ...]) -> np.ndarray | torch.Tensor:
        """``shape`` raw 64-bit draws, ``shape[0]`` the batch: uint64 NumPy, or int64 bit
        patterns in a tensor on ``device`` (what :meth:`uniform` is made of; also new keys)."""
        if not shape or shape[0] != len(self.keys):
            raise ValueError(f"noise for {len(self.keys)} rows, asked for shape {tuple(shape)}")
        per_row = _per_row(shape)
        if self.device is not None:
            state = _steps_on(per_row, self.device) + self.counters[:, None] * _as_int64(GOLDEN)
            self.counters += per_row
            return _splitmix64_torch(state + self.keys[:, None]).reshape(shape)
        state = _steps(per_row) + self.counters[:, None] * GOLDEN
        state += self.keys[:, None]
        self.counters += np.uint64(per_row)
        return _splitmix64(state).reshape(shape)

    def uniform(self, shape: tuple[int, ...]) -> np.ndarray | torch.Tensor:
        """``shape`` float32 uniforms in the open interval (0, 1) on a 2^-24 grid (float32's
        resolution); ``shape[0]`` is the batch. A NumPy array, or a tensor on ``device``."""
        bits = self.bits(shape)
        if self.device is not None:
            return (_shift(bits, 40).float() + 0.5) * 2.0**-24
        return _uniform_of(bits)

    def reseed_where(self, rows: torch.Tensor, keys: torch.Tensor) -> None:
        """Device streams: restart the rows where the bool mask ``rows`` ``(B,)`` is set, with
        the int64 key bits ``keys`` ``(B,)`` (the other rows' entries unused). Masks rather than
        indices, so nothing waits for the device."""
        self.keys = torch.where(rows, keys, self.keys)
        self.counters = torch.where(rows, 0, self.counters)

    def randn(self, shape: tuple[int, ...]) -> torch.Tensor:
        """``shape`` float32 standard normals (Box-Muller over this row's uniforms), on
        ``device`` (the CPU by default).

        A single CPU stream (a single env, which asks for the same shape every step) draws
        :data:`DRAW_AHEAD` calls' worth at once and hands them out one call at a time: the
        same numbers (a call's uniforms are the next ones of the stream, and Box-Muller pairs
        them within the call), at a fraction of the ~20 NumPy calls a draw costs."""
        if self.device is not None:
            return self._box_muller(shape[0], _per_row(shape)).reshape(shape)
        return torch.from_numpy(self.normals(shape))

    def normals(self, shape: tuple[int, ...]) -> np.ndarray:
        """:meth:`randn` of CPU streams as a NumPy array (the same numbers)."""
        if self.device is not None:
            raise ValueError(f"normals() draws NumPy arrays on the CPU; these streams live on "
                             f"{self.device}: use randn()")
        if len(self.keys) == 1 and shape and shape[0] == 1:
            return self._drawn_ahead(_per_row(shape)).reshape(shape)
        return self._box_muller(shape[0], _per_row(shape)).reshape(shape)

    def _drawn_ahead(self, per_row: int) -> np.ndarray:
        """The next ``per_row`` normals of a one-row CPU stream, from the block drawn ahead
        (redrawn when the stream was reseeded, advanced by another draw, or asked for another
        size)."""
        stride = np.uint64(2 * ((per_row + 1) // 2))  # uniforms one call consumes
        key, counter = self.keys[0], self.counters[0]
        ahead = self._ahead
        if ahead is not None and ahead.key == key and ahead.per_row == per_row \
                and counter >= ahead.first_counter:
            done, rest = divmod(int(counter - ahead.first_counter), int(stride))
            if rest == 0 and done < len(ahead.block):
                self.counters += stride
                return ahead.block[done].copy()  # a reseed to the same key hands it out again
        block = self._box_muller(DRAW_AHEAD, per_row, one_stream=True)
        self._ahead = _DrawnAhead(key, per_row, counter, block)
        self.counters += stride
        return block[0].copy()

    def _box_muller(self, rows: int, per_row: int, one_stream: bool = False
                    ) -> torch.Tensor | np.ndarray:
        """``(rows, per_row)`` normals, one row per stream (a tensor on the device, else
        NumPy); with ``one_stream`` (a one-row CPU source), ``rows`` consecutive calls' worth
        of its stream, without advancing its counter."""
        half = (per_row + 1) // 2
        if one_stream:
            bits = _steps(rows * 2 * half) + (self.counters * GOLDEN + self.keys)
            u = _uniform_of(_splitmix64(bits).reshape(rows, 2 * half))
        else:
            u = self.uniform((rows, 2 * half))
        if self.device is not None:
            radius = (-2.0 * torch.log(u[:, :half])).sqrt()
            angle = u[:, half:] * (2.0 * np.pi)
            z = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)], 1)
            return z[:, :per_row]
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
        return z[:, :per_row]


DRAW_AHEAD = 64
"""Calls' worth of normals a one-row CPU stream draws at once (:meth:`RowNoise.randn`)."""


@dataclass
class _DrawnAhead:
    """Normals drawn ahead for one stream: ``block[i]`` is what the call at counter
    ``first_counter + i * stride`` returns."""

    key: np.uint64
    per_row: int
    first_counter: np.uint64
    block: np.ndarray  # (DRAW_AHEAD, per_row)


def _uniform_of(bits: np.ndarray) -> np.ndarray:
    """uint64 draws (modified in place) -> float32 uniforms in (0, 1) on a 2^-24 grid."""
    bits >>= np.uint64(40)
    u = bits.astype(np.float32)
    u += np.float32(0.5)
    u *= np.float32(2.0**-24)
    return u


def _per_row(shape: tuple[int, ...]) -> int:
    n = 1
    for size in shape[1:]:
        n *= int(size)
    return n


@functools.lru_cache(maxsize=32)
def _steps_on(n: int, device: torch.device) -> torch.Tensor:
    """:func:`_steps` as int64 bits on ``device``."""
    return torch.from_numpy(_steps(n).view(np.int64)).to(device)


@functools.lru_cache(maxsize=32)
def _steps(n: int) -> np.ndarray:
    """``GOLDEN * [1, ..., n]``: the SplitMix64 increments of the next ``n`` draws."""
    with np.errstate(over="ignore"):
        return np.arange(1, n + 1, dtype=np.uint64) * GOLDEN


Noise = torch.Generator | RowNoise | None


def randn(shape: tuple[int, ...], source: Noise,
          device: str | torch.device | None = None) -> torch.Tensor:
    """Standard normals of ``shape`` from ``source`` (``None``: torch's global generator), on
    ``device`` (a ``RowNoise`` draws on its own device)."""
    if isinstance(source, RowNoise):
        return source.randn(shape)
    return torch.randn(shape, generator=source, device=device)


def rand(shape: tuple[int, ...], source: Noise,
         device: str | torch.device | None = None) -> torch.Tensor:
    """Uniforms in [0, 1) of ``shape`` from ``source``, on ``device`` (as :func:`randn`)."""
    if isinstance(source, RowNoise):
        return torch.as_tensor(source.uniform(shape))
    return torch.rand(shape, generator=source, device=device)
