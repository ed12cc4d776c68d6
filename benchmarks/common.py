"""Shared instruments of the benchmark scripts: timing, peak memory, the machine, tables.

Also the per-sample INN reference (the paper's Algorithm 1 read literally) that
``bench_scoring.py`` races the engine against. Nothing here is imported by ``inn_core``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

# The scripts run as `python benchmarks/bench_x.py` from the repository root.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from inn_core.devices import resolve_device  # noqa: E402

# glibc's mallopt parameters.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _mallopt(mmap_threshold: int) -> None:
    """Serve allocations of ``mmap_threshold`` bytes or more by mmap (returned to the OS when freed)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * mmap_threshold)
    except (OSError, AttributeError):
        pass


# glibc raises its mmap threshold as the process frees large buffers, up to 32 MiB. Fixing it there
# from the start puts every timed run under the same allocator, whatever ran before.
_STEADY_THRESHOLD = 32 * 2**20
_mallopt(_STEADY_THRESHOLD)


@contextmanager
def returning_freed_memory() -> Iterator[None]:
    """Within the block, buffers of 1 MiB or more come from mmap and go back to the OS when freed.

    Otherwise freed buffers stay in the process and are reused, and the peak resident set of a block
    of code says little about the block itself. Page faults make runs in this mode slower, so only
    untimed memory runs use it.
    """
    _mallopt(2**20)
    try:
        yield
    finally:
        _mallopt(_STEADY_THRESHOLD)


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """The options every script shares: ``--quick``, ``--device``, ``--threads``, ``--repeats``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test in seconds")
    parser.add_argument("--device", default="cpu", help="'cpu' (default), 'cuda' or 'auto'")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch and faiss (default: all cores)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="run every measurement this many times, interleaved, and keep the fastest",
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    args.device = str(resolve_device(args.device))
    args.threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(args.threads)
    return args


def machine(device: str) -> str:
    """One line naming the machine: CPU model, cores, memory, torch, and the GPU if used."""
    cpu = platform.processor() or platform.machine()
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        memory_text = f", {memory:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        memory_text = ""
    threads = torch.get_num_threads()
    line = (
        f"{cpu}, {os.cpu_count()} cores{memory_text}, torch {torch.__version__} "
        f"with {threads} thread{'s' if threads != 1 else ''}"
    )
    if device.startswith("cuda"):
        line += f", GPU {torch.cuda.get_device_name(torch.device(device))}"
    return line


def header(title: str, args: argparse.Namespace) -> None:
    """Print what ran, where and how, above the tables."""
    print(f"# {title}\n")
    print(f"- machine: {machine(args.device)}")
    print(f"- device: {args.device}")
    print(f"- command: `python {' '.join(sys.argv)}`")
    print(f"- date: {time.strftime('%Y-%m-%d %H:%M')}")
    if hasattr(os, "getloadavg"):
        # Other processes on the machine: the reason to read ratios rather than absolute times.
        print(f"- load average at start (1/5/15 min): {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(flush=True)


def synchronize(device: str | torch.device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class PeakMemory:
    """Peak memory of a block of code, in bytes above what was in use when it started.

    On CUDA it is the allocator's peak (``torch.cuda.max_memory_allocated``). On the CPU it is the
    process's peak resident set: Linux lets a process reset its high-water mark (write ``5`` to
    ``/proc/self/clear_refs``) and read it back (``VmHWM``); elsewhere a thread samples the resident
    set every millisecond, which can miss a very short spike.
    """

    def __init__(self, device: str | torch.device) -> None:
        self.cuda = torch.device(device).type == "cuda"
        self.device = device
        self.peak = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> PeakMemory:
        if self.cuda:
            synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
            return self
        self.start = _resident()
        if not _reset_high_water_mark():
            self._sampled = self.start
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sampled = max(self._sampled, _resident())
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.start
            return
        if self._sampler is not None:
            self._stop.set()
            self._sampler.join()
            high = self._sampled
        else:
            high = _high_water_mark()
        self.peak = max(0, high - self.start)


def _status_field(name: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _resident() -> int:
    value = _status_field("VmRSS")
    if value is not None:
        return value
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _reset_high_water_mark() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_field("VmHWM") is not None


def _high_water_mark() -> int:
    return _status_field("VmHWM") or _resident()


@dataclass
class Measurement:
    """Wall time (seconds), peak memory above the start (bytes) and the result of a run."""

    seconds: float
    peak_bytes: int
    result: Any


def measure(fn: Callable[[], Any], *, device: str | torch.device) -> Measurement:
    """Run ``fn`` once, timing it (device synchronised) and recording its peak memory."""
    synchronize(device)
    with PeakMemory(device) as memory:
        start = time.perf_counter()
        result = fn()
        synchronize(device)
        seconds = time.perf_counter() - start
    return Measurement(seconds, memory.peak, result)


def race(contenders: dict[str, tuple[Callable[[], Any], str]], *, repeats: int = 1) -> dict[str, Measurement]:
    """Time every contender ``name: (fn, device)`` ``repeats`` times, interleaved, keeping its fastest run.

    Interleaving puts the contenders under the same conditions when other processes share the
    machine; ratios between them are then fair even when absolute times drift. Each CPU contender
    first runs once untimed under :func:`returning_freed_memory` for its peak memory (which also
    warms it up); on CUDA the allocator's peak of the timed runs is exact.
    """
    peaks: dict[str, int] = {}
    for name, (fn, device) in contenders.items():
        if torch.device(device).type == "cpu":
            with returning_freed_memory(), PeakMemory(device) as memory:
                fn()
            peaks[name] = memory.peak
    best: dict[str, Measurement] = {}
    for _ in range(max(1, repeats)):
        for name, (fn, device) in contenders.items():
            m = measure(fn, device=device)
            peak = max(m.peak_bytes, best[name].peak_bytes) if name in best else m.peak_bytes
            if name not in best or m.seconds < best[name].seconds:
                best[name] = m
            best[name].peak_bytes = peaks.get(name, peak)
    return best


def matmul_rate(device: str | torch.device, *, dtype: torch.dtype | None = None, size: int | None = None) -> float:
    """The machine's measured dense matrix-multiply rate in FLOP/s (best of five).

    float32 on the CPU (what the engine runs there), bfloat16 on CUDA (what autocast runs).
    """
    dev = torch.device(device)
    dtype = dtype or (torch.bfloat16 if dev.type == "cuda" else torch.float32)
    size = size or (8192 if dev.type == "cuda" else 2048)
    generator = torch.Generator(device=dev).manual_seed(0)
    a = torch.randn(size, size, device=dev, generator=generator).to(dtype)
    b = torch.randn(size, size, device=dev, generator=generator).to(dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(5):
        synchronize(dev)
        start = time.perf_counter()
        torch.mm(a, b)
        synchronize(dev)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def forward_flops(model: nn.Module, example: torch.Tensor) -> float:
    """FLOPs of one forward pass per input (multiply-add = 2), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    with counter, torch.inference_mode():
        model(example)
    model.train(was_training)
    return counter.get_total_flops() / example.shape[0]


def algorithm_1_scores(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: np.ndarray,
    neighbor_indices: np.ndarray,
    sample_indices: Sequence[int],
    *,
    H: int,
    device: str | torch.device,
) -> np.ndarray:
    """INN scores the way the paper's Algorithm 1 with equation (1) reads.

    One sample, one neighbour (path) and one interpolation point at a time: ``L * (H + 1)``
    forward passes of a single input per sample, trapezoid rule summed in Python. This is the
    baseline the vectorised engine is measured against; it is deliberately literal, not slow on
    purpose (inference mode, eval mode, inputs already on the device).
    """
    dev = torch.device(device)
    model = model.to(dev).eval()
    x_all = inputs.to(dev, torch.float32)
    scores = []
    with torch.inference_mode():
        for i in sample_indices:
            total = 0.0
            for j in neighbor_indices[i]:
                fy = []
                for h in range(H + 1):
                    point = (H - h) / H * x_all[i] + h / H * x_all[j]
                    fy.append(torch.softmax(model(point[None]).float(), dim=1)[0, int(labels[i])].item())
                total += sum((fy[h - 1] + fy[h]) / (2 * H) for h in range(1, H + 1))
            scores.append(total / len(neighbor_indices[i]))
    return np.array(scores)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table of ``rows`` (dicts), columns in first-seen order; floats shortened."""
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def mib(n_bytes: int) -> float:
    return n_bytes / 2**20
