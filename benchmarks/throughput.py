"""Env steps per second: a learned env (DyDiff-Hopper by default) at N = 1, 64, 1024, 4096
against its real env (Hopper-v5), the project's own MBPO ensemble behind the same env, and
mbrl-lib's ``ModelEnv`` when its environment exists, all in one run.

The real references are measured in the same run: a single ``gym.make("Hopper-v5")`` and a
``SyncVectorEnv`` of 64. Every env takes uniform random actions and resets as it ends (the
vector envs autoreset). The ``model %`` column is the share of the time spent inside the
model's ``predict``: the rest is env bookkeeping, the termination rule and the wrappers. The
roofline column is the model's matrix-product FLOPs per env step times the steps per second,
against this machine's matmul rate measured in the same run (a 1024x256 by 256x256 product in the
env's precision): how much of the arithmetic the machine could do the env uses.

The ``tensors`` rows are the tensor-native vector env (``gym.make_vec(..., tensors=True)``):
observations, actions and rewards as torch tensors on ``--device``, nothing copied to NumPy.

The peer: ``--peer-python PEER_VENV/bin/python`` runs ``../shared/peer/mbrl_speed.py`` (mbrl-lib
pins gymnasium 0.26, so it lives in its own virtual environment; see that folder's README) right
after the NumPy vector env nearest its N = 1029 (1024 by default) and adds its rows; ``x peer``
is that vector env's rate over the peer's at 1029. With ``--rounds R`` the two alternate R times
and the table has medians (of the rates, and of the rounds' ratios for ``x peer``).

Usage: ``python benchmarks/throughput.py [--seconds 3] [--precision bfloat16] [--steps 2]
[--threads 1] [--sizes 64 1024 4096] [--task walker2d --model DIR] [--device cuda]
[--interfaces numpy tensors] [--peer-python PATH] [--cpu-time] [--rounds 5]``; ``--rounds``
alternates the single envs with the real one (and the vector env with the peer) and reports
medians; ``--cpu-time`` (with
``--threads 1``) times with the process's CPU time, for a machine shared with other jobs.
On a GPU, e.g. ``--device cuda --sizes 1024 16384 65536 --interfaces tensors`` (the matmul
reference is then measured on the GPU at the widest N). Targets (issue 14): N=1 >= 0.5x the
real single env; N=1024 at least the peer's rate; on one H100, 5M steps/s with tensors on the
device.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import dreamenv  # noqa: F401  (registers the DyDiff envs)
from _common import calls_per_second, clock, cpu_name, print_table, use_cpu_time
from dreamenv.envs import dream_env_id
from dreamenv.envs.tensor_vector import TensorDreamVectorEnv
from dreamenv.tasks import TASKS


class PredictTimer:
    """Wrap a model's ``predict`` (and ``predict_arrays``, the single env's all-NumPy entry) to
    add up the seconds spent in them."""

    ENTRIES = ("predict", "predict_arrays")

    def __init__(self, model):
        self.model, self.seconds = model, 0.0
        for name in self.ENTRIES:
            if hasattr(model, name):
                setattr(model, name, self._timed(getattr(model, name)))

    def _timed(self, inner):
        def timed(*args, **kwargs):
            start = clock()
            try:
                out = inner(*args, **kwargs)
                if hasattr(out, "next_state") and out.next_state.is_cuda:  # kernels are
                    torch.cuda.synchronize(out.next_state.device)  # queued: count them done
                return out
            finally:
                self.seconds += clock() - start
        return timed

    def restore(self) -> None:
        for name in self.ENTRIES:
            self.model.__dict__.pop(name, None)


def single_env_rate(env: gym.Env, seconds: float, seed: int = 0) -> float:
    env.reset(seed=seed)
    space = env.action_space
    actions = np.random.default_rng(seed).uniform(space.low, space.high,
                                                  (100_000, *space.shape)).astype(np.float32)
    steps, start = 0, clock()
    while clock() - start < seconds:
        for a in actions[steps % 90_000: steps % 90_000 + 500]:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        steps += 500
    return steps / (clock() - start)


def vector_env_rate(env: gym.vector.VectorEnv, seconds: float, seed: int = 0) -> float:
    """Steps/s of a vector env; a tensor-native one gets its actions as tensors on its device
    (and its every step waits for the device: the action check reads one flag back)."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    actions = list(rng.uniform(-1, 1, (16, *env.action_space.shape)).astype(np.float32))
    device = getattr(env.unwrapped, "device", None)
    if isinstance(env.unwrapped, TensorDreamVectorEnv):
        actions = [torch.as_tensor(a, device=device) for a in actions]
    return calls_per_second(env.step, actions, seconds) * env.num_envs


def matmul_flops_per_row(model: object, steps: int) -> float:
    """Matrix-product FLOPs the model spends per row and env step (2 per multiply-add): the
    diffusion model's context encoder once and its denoiser ``steps`` times; every member of an
    ensemble once."""
    from torch import nn

    def macs(modules) -> int:
        total = 0
        for m in modules:
            weight = getattr(m, "weight", None)
            if isinstance(m, nn.Linear) or (weight is not None and weight.dim() == 3):
                total += weight.numel()
        return total

    if hasattr(model, "denoiser"):
        denoiser = model.denoiser
        per_call = macs([denoiser.in_x, *denoiser.blocks, denoiser.out])
        once = macs(model.encoder.modules()) + denoiser.in_cond.weight.numel()
        return 2.0 * (once + steps * per_call)
    return 2.0 * macs(model.modules())


def machine_flops(dtype: torch.dtype, seconds: float, device: str | None = None,
                  rows: int = 1024) -> float:
    """FLOP/s of a ``rows``x256 @ 256x256 product in ``dtype`` on ``device`` (the CPU), now."""
    device = torch.device(device or "cpu")
    a = torch.randn(rows, 256, device=device).to(dtype)
    b = torch.randn(256, 256, device=device).to(dtype)

    def product(_: object) -> None:
        a @ b
        if device.type == "cuda":  # the product is queued; time it done
            torch.cuda.synchronize(device)

    return calls_per_second(product, [None], seconds) * 2 * rows * 256 * 256


PEER_N = 1029
"""The peer script's widest batch (7 members x 147 rows), the one the vector env is paired with."""


def peer_rates(python: str) -> dict[int, float]:
    """mbrl-lib's ModelEnv steps/s by batch size, from the peer script run in its own
    interpreter."""
    script = Path(__file__).resolve().parents[1].parent / "shared" / "peer" / "mbrl_speed.py"
    out = subprocess.run([python, str(script)], capture_output=True, text=True, check=True)
    return {int(n): float(rate)
            for n, rate in re.findall(r"N=\s*(\d+):\s*([\d.]+) steps/s", out.stdout)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 1024, 4096])
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: "
                        "the model's)")
    parser.add_argument("--precision", default=None, choices=["float32", "bfloat16"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's own choice)")
    parser.add_argument("--task", default="hopper", choices=sorted(TASKS))
    parser.add_argument("--model", default=None, help="checkpoint (default: the shipped one)")
    parser.add_argument("--device", default=None, help="where the learned env's model runs "
                        "(cuda; default the CPU)")
    parser.add_argument("--peer-python", default=None,
                        help="the peer environment's python (mbrl-lib; see shared/peer)")
    parser.add_argument("--no-ensemble", action="store_true",
                        help="skip the project's ensemble behind the same env")
    parser.add_argument("--interfaces", nargs="+", default=["numpy", "tensors"],
                        choices=["numpy", "tensors"], help="the vector envs' interfaces to "
                        "measure (tensors: gym.make_vec(..., tensors=True))")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure the real and the learned single env alternately this "
                        "many times (--seconds each) and report medians, and likewise the peer "
                        "and the NumPy vector env nearest its N (x peer: the median of the "
                        "rounds' ratios): this machine's speed drifts by 10-20%% between "
                        "measurements a few seconds apart")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time with the process's CPU time, not the wall clock (a machine "
                        "shared with other jobs; needs --threads 1 and the CPU)")
    args = parser.parse_args()
    if args.cpu_time:
        if args.threads != 1 or args.device or args.peer_python:
            parser.error("--cpu-time needs --threads 1, the CPU and no --peer-python (CPU "
                         "time adds up threads and misses the device and other processes)")
        use_cpu_time()
    if args.threads:
        torch.set_num_threads(args.threads)
    options = {"denoising_steps": args.steps, "precision": args.precision, "model": args.model,
               "device": args.device}
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    real_id, learned_id = TASKS[args.task].env_id, dream_env_id(args.task)
    real_env = gym.make(real_id)
    real = single_env_rate(real_env, args.seconds)
    rows = [{"env": f"{real_id} (real)", "N": 1, "steps/s": real, "x real": 1.0, "x peer": "-",
             "model %": "-", "roofline %": "-"}]
    real_vec = gym.make_vec(real_id, num_envs=64, vectorization_mode="sync")
    rate = vector_env_rate(real_vec, args.seconds)
    rows.append({"env": f"{real_id} SyncVectorEnv (real)", "N": 64, "steps/s": rate,
                 "x real": rate / real, "x peer": "-", "model %": "-", "roofline %": "-"})
    on_gpu = torch.device(args.device or "cpu").type == "cuda"
    peak = {name: machine_flops(dtype, args.seconds, args.device,
                                max(args.sizes) if on_gpu else 1024)
            for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16))}

    peer_rounds: list[dict[int, float]] = []  # the peer's steps/s by N, once per round
    # The peer alternates with the NumPy vector env nearest its own N = 1029, round by round.
    paired = min(args.sizes, key=lambda n: abs(n - PEER_N)) if args.peer_python else None

    def measure(label: str, n: int, with_peer: bool = False, single: bool = False,
                **env_options) -> dict:
        """``single``: one ``gym.make`` env (``n`` is 1), else a vector env of ``n`` (which
        may be 1 too: ``--sizes 1`` measures ``make_vec`` at one row)."""
        env = (gym.make(learned_id, **env_options) if single else
               gym.make_vec(learned_id, num_envs=n, **env_options))
        core = env.unwrapped.core
        timer = PredictTimer(core.model)
        rates, ratios, against_peer, elapsed = [], [], [], 0.0
        # Single envs alternate with the real one, the paired vector env with the peer.
        for _ in range(args.rounds if single or with_peer else 1):
            reference = real if not single or args.rounds == 1 else single_env_rate(
                real_env, args.seconds)
            start = clock()
            rates.append(single_env_rate(env, args.seconds) if single else
                         vector_env_rate(env, args.seconds))
            elapsed += clock() - start
            ratios.append(rates[-1] / reference)
            if with_peer:  # its own process: nothing of ours runs (or is timed) meanwhile
                peer_rounds.append(peer_rates(args.peer_python))
                against_peer.append(rates[-1] / peer_rounds[-1][PEER_N])
        rate, share = float(np.median(rates)), timer.seconds / elapsed
        timer.restore()
        steps = core.predict_kwargs.get("steps") or getattr(core.model.cfg, "denoising_steps", 1)
        precision = core.predict_kwargs.get("precision", "float32")
        flops = matmul_flops_per_row(core.model, steps) * rate
        return {"env": label, "N": n, "steps/s": rate, "x real": float(np.median(ratios)),
                "x peer": float(np.median(against_peer)) if against_peer else "-",
                "model %": 100 * share, "roofline %": 100 * flops / peak[precision]}

    rows.append(measure(learned_id, 1, single=True, **options))
    for n in args.sizes if "numpy" in args.interfaces else []:
        rows.append(measure(f"{learned_id} make_vec", n, with_peer=n == paired, **options))
    for n in args.sizes if "tensors" in args.interfaces else []:  # interface on the device
        rows.append(measure(f"{learned_id} make_vec, tensors", n, tensors=True, **options))
    if not args.no_ensemble:  # MBPO's 7x 4x200 ensemble in the same env: the usual choice
        from dreamenv.models.ensemble import EnsembleConfig, GaussianEnsemble

        spaces = gym.make(real_id)
        dims = spaces.observation_space.shape[0], spaces.action_space.shape[0]
        ensemble = GaussianEnsemble(EnsembleConfig(), *dims).eval().to(args.device or "cpu")
        # (speed needs no training)
        for single, n in [(True, 1), *((False, n) for n in args.sizes)]:
            label = f"{learned_id}{'' if single else ' make_vec'}, MBPO ensemble"
            rows.append(measure(label, n, single=single, model=ensemble, device=args.device))
    if args.peer_python:
        if not peer_rounds:  # no NumPy vector env to pair it with: run it once
            peer_rounds.append(peer_rates(args.peer_python))
        for n in peer_rounds[0]:
            rate = float(np.median([r[n] for r in peer_rounds]))
            rows.append({"env": "mbrl-lib ModelEnv, ensemble (peer)", "N": n, "steps/s": rate,
                         "x real": rate / real, "x peer": "-", "model %": "-",
                         "roofline %": "-"})
    cfg = getattr(gym.make(learned_id, **options).unwrapped.dynamics, "cfg", None)
    where = (f"{torch.cuda.get_device_name(args.device)}" if on_gpu else cpu_name()) + \
        f", torch threads={torch.get_num_threads()}"
    clock_name = "CPU time" if args.cpu_time else "wall clock"
    if args.rounds > 1:
        clock_name += (f"; single envs: medians of {args.rounds} rounds alternating with the "
                       f"real env" + (f", N={paired} with the peer" if paired else ""))
    print_table(rows, f"env steps/s ({clock_name}), random actions; {where}, "
                      f"denoising steps={args.steps or getattr(cfg, 'denoising_steps', '-')}, "
                      f"precision={args.precision or 'auto'}; matmul rate here: "
                      f"{peak['float32'] / 1e9:.1f} GFLOP/s float32, "
                      f"{peak['bfloat16'] / 1e9:.1f} bfloat16")


if __name__ == "__main__":
    main()
