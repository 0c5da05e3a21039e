"""Helpers shared by the benchmark scripts (timing, the real-env reference, table printing)."""

from __future__ import annotations

import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np


_clock = time.perf_counter


def use_cpu_time() -> None:
    """Time with this process's CPU time instead of the wall clock: on a machine shared with
    other jobs, what a step costs when the process has a core to itself (single-threaded runs
    only: CPU time adds up every thread's)."""
    global _clock
    _clock = time.process_time


def cpu_name() -> str:
    """This machine's CPU model, its bfloat16 units and whether torch multiplies bfloat16
    natively on it: the same benchmark differs by CPU, so a table says which one it ran on."""
    import platform

    import torch

    name, units = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            info = {key.strip(): value.strip()
                    for key, value in (line.split(":", 1) for line in f if ":" in line)}
        name = info.get("model name", name)
        flags = info.get("flags", "").split()
        units = [unit for flag, unit in (("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"))
                 if flag in flags]
    except OSError:
        pass
    native = bool(getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)())
    return f"{name} ({', '.join(units) + ': ' if units else ''}" \
           f"{'native' if native else 'no native'} bfloat16)"


def clock() -> float:
    """Seconds on the benchmark's clock (the wall clock unless :func:`use_cpu_time`)."""
    return _clock()


def time_call(fn: Callable[[], object], min_seconds: float = 1.0, min_reps: int = 3) -> float:
    """Median seconds per call of ``fn`` over at least ``min_reps`` calls and ``min_seconds``."""
    fn()  # warm-up
    times = []
    start = clock()
    while len(times) < min_reps or clock() - start < min_seconds:
        t = clock()
        fn()
        times.append(clock() - t)
    return float(np.median(times))


def calls_per_second(step: Callable[[object], object], inputs: list, seconds: float) -> float:
    """Calls of ``step`` per second over ``seconds``, cycling through ``inputs``, after one
    warm-up call."""
    step(inputs[0])
    calls, start = 0, clock()
    while clock() - start < seconds:
        step(inputs[calls % len(inputs)])
        calls += 1
    return calls / (clock() - start)


def real_hopper_steps_per_second(steps: int = 5000, seed: int = 0) -> float:
    """Single real Hopper-v5 env, random actions, resets included: the reference speed."""
    env = gym.make("Hopper-v5")
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).uniform(-1, 1, (steps, 3))
    start = clock()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return steps / (clock() - start)


def print_table(rows: list[dict], title: str) -> None:
    print(f"\n{title}")
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(_fmt(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.rjust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(_fmt(r[k]).rjust(widths[k]) for k in keys))


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)
