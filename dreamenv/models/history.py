"""The history window every dynamics model is conditioned on, and how it is cut from a dataset.

Shapes: ``B`` batch, ``L`` history length (past transitions), ``S`` state size, ``A`` action size.
For a batch row whose current state is ``s_t`` (dataset row ``i``), the window is::

    token k          0          1         ...   L-1        L
    states[:, k]     s_{t-L}    s_{t-L+1} ...   s_{t-1}    s_t       (current state, last)
    actions[:, k]    a_{t-L}    a_{t-L+1} ...   a_{t-1}    -         (a_t is predict's argument)
    valid[:, k]      False where step t-L+k lies before the start of the episode

so ``actions[:, k]`` is the action taken *in* ``states[:, k]``. Invalid tokens hold zeros; models
treat them as fully masked (Diffusion Forcing's "noise as masking"). The env's rolling buffer keeps
exactly this window and shifts it left by one token per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class History:
    """A batch of history windows (see the module docstring for the alignment)."""

    states: torch.Tensor  # (B, L+1, S)
    actions: torch.Tensor  # (B, L, A)
    valid: torch.Tensor  # (B, L+1) bool

    @property
    def current(self) -> torch.Tensor:
        """``(B, S)`` the current state ``s_t``."""
        return self.states[:, -1]

    @classmethod
    def start(cls, state: torch.Tensor, history_len: int, action_dim: int) -> History:
        """A window holding only the current state: the first step of an episode.

        Examples:
            >>> h = History.start(torch.ones(2, 3), history_len=2, action_dim=1)
            >>> h.states.shape, h.valid.tolist()
            (torch.Size([2, 3, 3]), [[False, False, True], [False, False, True]])
        """
        b, s = state.shape
        like = {"dtype": state.dtype, "device": state.device}
        states = torch.zeros(b, history_len + 1, s, **like)
        states[:, -1] = state
        valid = torch.zeros(b, history_len + 1, dtype=torch.bool, device=state.device)
        valid[:, -1] = True
        return cls(states, torch.zeros(b, history_len, action_dim, **like), valid)

    def push(self, action: torch.Tensor, next_state: torch.Tensor) -> History:
        """The window one step later: ``action`` was taken in the current state, giving
        ``next_state``. Returns a new window; ``self`` is unchanged."""
        states = torch.cat([self.states[:, 1:], next_state[:, None]], 1)
        actions = self.actions  # a window of no past transitions keeps no actions
        if self.actions.shape[1]:
            actions = torch.cat([self.actions[:, 1:], action[:, None]], 1)
        valid = torch.cat([self.valid[:, 1:], torch.ones_like(self.valid[:, :1])], 1)
        return History(states, actions, valid)

    def push_(self, action: torch.Tensor | np.ndarray, next_state: torch.Tensor | np.ndarray,
              via_numpy: bool | None = None) -> None:
        """:meth:`push` in place, without new tensors: an env's rolling buffer, shifted every
        step (CPU windows shift through NumPy views, a microsecond a call; ``action`` and
        ``next_state`` may then be NumPy arrays).

        Examples:
            >>> h = History.start(torch.ones(1, 2), history_len=2, action_dim=1)
            >>> h.push_(torch.full((1, 1), 5.0), torch.full((1, 2), 3.0))
            >>> h.states[0, :, 0].tolist(), h.actions[0, :, 0].tolist(), h.valid.tolist()
            ([0.0, 1.0, 3.0], [0.0, 5.0], [[False, True, True]])
        """
        cpu = self.states.device.type == "cpu" if via_numpy is None else via_numpy
        if cpu:  # NumPy copies overlapping slices correctly; torch needs a clone
            states, actions, valid = self.numpy_views()
            states[:, :-1] = states[:, 1:]
            states[:, -1] = _as_numpy(next_state)
            if actions.shape[1]:  # a window of no past transitions keeps no actions
                actions[:, :-1] = actions[:, 1:]
                actions[:, -1] = _as_numpy(action)
            valid[:, :-1] = valid[:, 1:]
            valid[:, -1] = True
            return
        for buffer, new in ((self.states, next_state), (self.actions, action),
                            (self.valid, True)):
            if buffer.shape[1] == 0:
                continue
            buffer[:, :-1] = buffer[:, 1:].clone()
            buffer[:, -1] = new

    def numpy_views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """NumPy views of the CPU buffers, made once per set of tensors (an env shifts the same
        window every step; a view costs a microsecond a call)."""
        cached = self.__dict__.get("_views")
        if (cached is None or cached[0] is not self.states or cached[1] is not self.actions
                or cached[2] is not self.valid):
            tensors = (self.states, self.actions, self.valid)
            cached = (*tensors, tuple(t.numpy() for t in tensors))
            self.__dict__["_views"] = cached
        return cached[3]

    def tail(self, history_len: int) -> History:
        """The same windows cut to the last ``history_len`` transitions (for a model that sees
        less history than the window holds).

        Examples:
            >>> h = History.start(torch.ones(2, 3), history_len=4, action_dim=1).tail(2)
            >>> h.states.shape, h.actions.shape, h.valid.tolist()[0]
            (torch.Size([2, 3, 3]), torch.Size([2, 2, 1]), [False, False, True])
        """
        if not 0 <= history_len <= self.actions.shape[1]:
            raise ValueError(f"cannot cut a window of {self.actions.shape[1]} transitions to "
                             f"{history_len}")
        return History(self.states[:, -history_len - 1:], self.actions[:, self.actions.shape[1]
                       - history_len:], self.valid[:, -history_len - 1:])

    def __getitem__(self, rows) -> History:
        return History(self.states[rows], self.actions[rows], self.valid[rows])


def episode_starts(terminals: np.ndarray, timeouts: np.ndarray) -> np.ndarray:
    """``(N,)`` index of the first row of each row's episode.

    Examples:
        >>> episode_starts(np.array([0, 1, 0, 0]), np.array([0, 0, 0, 0])).tolist()
        [0, 0, 2, 2]
    """
    ends = np.asarray(terminals, bool) | np.asarray(timeouts, bool)
    first = np.concatenate([[True], ends[:-1]])
    return np.maximum.accumulate(np.where(first, np.arange(len(ends)), 0))


def dataset_windows(observations: np.ndarray, actions: np.ndarray, starts: np.ndarray,
                    rows: np.ndarray, history_len: int) -> History:
    """History windows whose current state is ``observations[rows]``, padded at episode starts.

    Examples:
        >>> obs = np.arange(5, dtype=np.float32)[:, None]
        >>> starts = np.array([0, 0, 0, 3, 3])
        >>> h = dataset_windows(obs, obs, starts, np.array([1, 3]), history_len=2)
        >>> h.states[..., 0].tolist(), h.valid.tolist()
        ([[0.0, 0.0, 1.0], [0.0, 0.0, 3.0]], [[False, True, True], [False, False, True]])
    """
    offsets = np.arange(-history_len, 1)  # (L+1,)
    idx = rows[:, None] + offsets  # (B, L+1)
    valid = idx >= starts[rows][:, None]
    idx = np.where(valid, idx, rows[:, None])
    states = np.where(valid[..., None], observations[idx], 0.0)
    past = np.where(valid[:, :-1, None], actions[idx[:, :-1]], 0.0)
    return History(torch.as_tensor(states, dtype=torch.float32),
                   torch.as_tensor(past, dtype=torch.float32), torch.as_tensor(valid))


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x if isinstance(x, np.ndarray) else x.numpy()
