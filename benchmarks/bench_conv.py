"""convlab's reference convolutions against torch.nn.functional, float32.

    python benchmarks/bench_conv.py            # the real shapes (about a minute on 2 cores)
    python benchmarks/bench_conv.py --quick    # tiny shapes, a few seconds: a smoke run
    python benchmarks/bench_conv.py --device cuda

For every case the two implementations are first checked to agree, then timed
interleaved (library, torch, library, ...) so both see the same machine load; the
table gives median milliseconds and ratio = library / torch from the same run, and
the ratio of the fastest calls ("best-of"), which other processes on a shared machine
disturb least.

Peak memory is *measured*, per call, as the extra memory the call needed at its peak:
on CUDA ``torch.cuda.max_memory_allocated`` minus what was allocated before; on CPU the
rise of the process's peak resident set (Linux ``VmHWM``, reset through
``/proc/self/clear_refs`` before the call) over its resident set before it. For that to
be honest, glibc first hands every free page back to the OS (``malloc_trim``) and, for
that one call, gives every block of 64 KiB or more its own mapping
(``mallopt(M_MMAP_THRESHOLD)``); otherwise a call could reuse pages an earlier call
freed and appear to need nothing. The timings run with the opposite setting (freed
blocks stay for reuse, glibc's own steady state), so they do not pay for page faults.
Both figures include the output tensor itself.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

try:
    import convlab
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
    import convlab


@dataclass
class Case:
    name: str
    ours: Callable
    theirs: Callable
    x_shape: tuple
    w_shape: tuple
    kwargs: dict


def conv(name, n, c_in, c_out, size, k=3, **kwargs):
    return Case(name, convlab.conv2d, F.conv2d, (n, c_in, size, size), (c_out, c_in, k, k), kwargs)


def conv_t(name, n, c_in, c_out, size, k=4, **kwargs):
    return Case(
        name, convlab.conv_transpose2d, F.conv_transpose2d, (n, c_in, size, size), (c_in, c_out, k, k), kwargs
    )


CASES = [
    conv("conv2d 3x3", 8, 64, 64, 56, padding=1),
    conv("conv2d 3x3", 1, 256, 256, 32, padding=1),
    conv("conv2d 3x3 stride 2", 8, 64, 128, 56, padding=1, stride=2),
    conv("conv2d 3x3 dilation 2", 8, 64, 64, 56, padding=2, dilation=2),
    conv("conv2d 3x3 dilation 4", 8, 64, 64, 56, padding=4, dilation=4),
    conv_t("conv_transpose2d 4x4 s2 (28->56)", 8, 64, 32, 28, stride=2, padding=1),
]

QUICK_CASES = [
    conv("conv2d 3x3", 2, 4, 5, 12, padding=1),
    conv("conv2d 3x3 stride 2", 2, 4, 6, 12, padding=1, stride=2),
    conv("conv2d 3x3 dilation 2", 2, 4, 5, 12, padding=2, dilation=2),
    conv_t("conv_transpose2d 4x4 s2", 2, 4, 3, 6, stride=2, padding=1),
]


# ------------------------------------------------------------------------- memory

CPU_PEAK = False  # set by main(): mallopt changes the whole process, not for importers


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def _mallopt(**settings) -> bool:
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return False
    return all(libc.mallopt(globals()[f"_M_{k.upper()}"], v) for k, v in settings.items())


def malloc_for_memory() -> bool:
    """Hand every free page back to the OS (malloc_trim), and give every new block of
    64 KiB or more its own mapping: then each page a call touches shows in its RSS."""
    if not _mallopt(mmap_threshold=64 * 1024):
        return False
    _libc().malloc_trim(0)
    return True


def malloc_for_timing() -> None:
    """Freed blocks up to 32 MiB stay in the heap for reuse, as glibc settles on by
    itself after a few calls: no page faults on fresh mappings inside the timings."""
    _mallopt(mmap_threshold=32 * 2**20, trim_threshold=2**30)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _cpu_peak_supported() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kib("VmHWM")
        return True
    except OSError:
        return False


def peak_extra_mib(fn, device) -> float | None:
    """Extra memory ``fn()`` needs at its peak, in MiB (None where it cannot be measured)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        result = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - before
        del result
        return peak / 2**20
    if not CPU_PEAK:
        return None
    malloc_for_memory()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    result = fn()
    peak = _status_kib("VmHWM") - before
    del result
    malloc_for_timing()
    return max(peak, 0) / 1024



# ------------------------------------------------------------------------- timing


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def make_calls(case: Case, device, backward: bool):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(case.x_shape, generator=g).to(device)
    w = (torch.randn(case.w_shape, generator=g) * 0.05).to(device)
    b = torch.randn(case.w_shape[1 if case.ours is convlab.conv_transpose2d else 0], generator=g).to(device)
    if backward:
        for t in (x, w, b):
            t.requires_grad_()
    grad_out = None

    def call(op):
        def run():
            out = op(x, w, b, **case.kwargs)
            if backward:
                out.backward(grad_out)
                for t in (x, w, b):
                    t.grad = None
            return out

        return run

    if backward:
        grad_out = torch.randn(case.theirs(x, w, b, **case.kwargs).shape, generator=g).to(device)
    return call(case.ours), call(case.theirs)


def check_agree(case: Case, device) -> None:
    ours, theirs = make_calls(case, device, backward=False)
    with torch.no_grad():
        torch.testing.assert_close(ours(), theirs(), rtol=1e-4, atol=1e-3)


def time_ms(fn_a, fn_b, device, reps: int, warmup: int) -> tuple[list[float], list[float]]:
    """Wall-clock milliseconds of ``reps`` calls each, interleaved a, b, a, b, ..."""
    for _ in range(warmup):
        fn_a(), fn_b()
    times = ([], [])
    for _ in range(reps):
        for fn, out in zip((fn_a, fn_b), times):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            out.append((time.perf_counter() - start) * 1e3)
    return times


def describe(case: Case) -> str:
    n, c, h, w = case.x_shape
    c_out = case.w_shape[1] if case.ours is convlab.conv_transpose2d else case.w_shape[0]
    return f"{case.name}, N={n}, C={c}->{c_out}, {h}x{w}"


def _least(readings):
    readings = [r for r in readings if r is not None]
    return min(readings) if readings else None


def run(cases, devices, modes, reps, warmup):
    rows = []
    for device in devices:
        for case in cases:
            check_agree(case, device)
            for mode in modes:
                backward = mode == "fwd+bwd"
                ours, theirs = make_calls(case, device, backward)
                with torch.set_grad_enabled(backward):
                    t_ours, t_theirs = time_ms(ours, theirs, device, reps, warmup)
                    # Heap fragmentation can only add to a reading: keep the least of 3.
                    m_ours = _least(peak_extra_mib(ours, device) for _ in range(3))
                    m_theirs = _least(peak_extra_mib(theirs, device) for _ in range(3))
                rows.append((describe(case), device.type, mode, t_ours, t_theirs, m_ours, m_theirs))
                print(_format_row(rows[-1]), flush=True)
    return rows


# ------------------------------------------------------------------------- report


HEADER = (
    "| case | device | mode | convlab ms | torch ms | ratio | best-of ratio "
    "| convlab peak MiB | torch peak MiB |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|"
)


def _mib(v):
    return "n/a" if v is None else f"{v:.1f}"


def _format_row(row) -> str:
    name, device, mode, t_ours, t_theirs, m_ours, m_theirs = row
    ours, theirs = statistics.median(t_ours), statistics.median(t_theirs)
    return (
        f"| {name} | {device} | {mode} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f} "
        f"| {min(t_ours) / min(t_theirs):.2f} | {_mib(m_ours)} | {_mib(m_theirs)} |"
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes, few repetitions (smoke run)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="all = cpu, and cuda when present (default)")
    parser.add_argument("--reps", type=int, default=None, help="timed repetitions per implementation")
    parser.add_argument("--forward-only", action="store_true", help="skip forward+backward")
    args = parser.parse_args(argv)
    global CPU_PEAK
    CPU_PEAK = malloc_for_memory() and _cpu_peak_supported()
    malloc_for_timing()

    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device")
    devices = [torch.device("cpu")] if args.device in ("cpu", "all") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))
    cases = QUICK_CASES if args.quick else CASES
    reps = args.reps or (3 if args.quick else 15)
    warmup = 1 if args.quick else 3
    modes = ["fwd"] if args.forward_only else ["fwd", "fwd+bwd"]

    print(f"CPU: {cpu_model()}, {torch.get_num_threads()} torch threads")
    if any(d.type == "cuda" for d in devices):
        print(f"GPU: {torch.cuda.get_device_name()}")
    print(f"torch {torch.__version__}, Python {platform.python_version()}, float32, "
          f"median of {reps} (after {warmup} warm-up)")
    print("peak memory: " + ("CPU: peak-RSS rise (VmHWM); " if CPU_PEAK else "CPU: n/a; ")
          + "CUDA: max_memory_allocated rise\n")
    # Other processes on the machine skew both columns; the load average says how much.
    print(f"load average before: {load_average()}\n")
    print(HEADER, flush=True)
    run(cases, devices, modes, reps, warmup)
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
