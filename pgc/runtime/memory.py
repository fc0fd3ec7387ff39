"""A worker's memory: the peak the step log records, `--memory-report`'s measured peak above a
baseline next to the plan's prediction, and glibc's mapping threshold (`--return-freed`).

What `--memory-report` counts. On a GPU: `torch.cuda.max_memory_allocated` (tensors the caching
allocator handed out; its reserved but unused blocks, the CUDA context and kernels are not
counted) above `torch.cuda.memory_allocated` at the baseline. On a CPU: the process's peak
resident set (Linux `VmHWM`: every page of the process that was in RAM at once, so tensors,
allocator slack and fragmentation, torch's lazily allocated buffers and the threads' stacks)
above its resident set at the baseline. The baseline is taken once torch is loaded and the
process group is up, before the model is built. On a CPU, torch is first made to load what it
loads on the first operation on a meta tensor (every worker's build runs on meta tensors: about
74 MiB of Python modules, the same for any model, recorded as `torch_lazy_load`); then glibc's
free memory is returned to the system (`malloc_trim`) and the peak reset
(`/proc/self/clear_refs`), so the peak is that of what follows alone.

glibc keeps a freed block below its mapping threshold in its heap for reuse: resident, though
no tensor holds it. Its dynamic threshold rises to 32 MiB after the first large free, so on a
CPU nearly every activation lives in the heap and the resident set of a training step exceeds
its live tensors by the heap's free space (measured: about a third more than the plan's
prediction). `--return-freed` fixes the threshold at glibc's initial 128 KiB instead: every
larger block is mapped and unmapped on free, so the resident set follows the live tensors, at
the cost of the page faults of mapping them anew (see bench/results/memory.md).
"""

from __future__ import annotations

import ctypes
import resource
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

M_MMAP_THRESHOLD = -3  # glibc mallopt parameter
GLIBC_MMAP_THRESHOLD_MAX = 32 << 20  # where glibc's dynamic threshold ends up (64-bit)
GLIBC_MMAP_THRESHOLD_MIN = 128 << 10  # glibc's initial threshold
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")
RESET_PEAK_RSS = "5"  # proc(5): "reset the peak resident set size ('high water mark')"


def trim_heap() -> bool:
    """Give glibc's free heap and arena memory back to the system; False if not glibc."""
    try:
        malloc_trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    malloc_trim(0)
    return True


def set_mmap_threshold(nbytes: int) -> bool:
    """Blocks of `nbytes` or more are mapped from now on (and glibc's dynamic threshold is
    off); False if not glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, nbytes))


def _status_kib(field: str) -> int | None:
    """A `VmXXX:  N kB` line of /proc/self/status, in KiB (None where there is none)."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def resident() -> int:
    """Bytes of this process resident in RAM now."""
    kib = _status_kib("VmRSS")
    return 0 if kib is None else kib * 1024


def peak_resident() -> int:
    """Bytes of this process's peak resident set (since the start or the last reset)."""
    kib = _status_kib("VmHWM")
    if kib is None:  # no /proc: getrusage's peak (KiB on Linux, bytes on macOS)
        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    return kib * 1024


def reset_peak_resident() -> bool:
    """Start the peak resident set afresh from the current one; False where Linux's
    clear_refs is not there or not writable."""
    try:
        CLEAR_REFS.write_text(RESET_PEAK_RSS)
    except OSError:
        return False
    return True


def peak_memory(device: torch.device) -> int:
    """This worker's peak memory so far: `torch.cuda.max_memory_allocated` on a GPU, else the
    process's peak resident set (torch itself included)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return peak_resident()


@dataclass
class MemoryMeter:
    """The baseline of one worker and, later, its peak above it."""

    device: torch.device
    baseline: int
    reset: bool  # whether the peak counts from the baseline (else from the process's start)
    lazy_load: int = 0  # resident bytes torch's first meta-tensor use added before the baseline

    @classmethod
    def start(cls, device: torch.device) -> MemoryMeter:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            return cls(device, int(torch.cuda.memory_allocated(device)), True)
        before = resident()
        torch.empty(1, device="meta") + 1  # the first op loads torch's meta kernels
        trim_heap()
        reset = reset_peak_resident()
        baseline = resident()
        return cls(device, baseline, reset, baseline - before)

    def measure(self) -> dict[str, Any]:
        """Baseline, peak and peak above the baseline, in bytes."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        peak = peak_memory(self.device)
        return {"baseline": self.baseline, "peak": peak, "above_baseline": peak - self.baseline,
                "peak_from_baseline": self.reset, "torch_lazy_load": self.lazy_load}


def memory_lines(report: dict[str, dict[str, Any]]) -> list[str]:
    """One line per worker: measured peak above the baseline against the plan's prediction."""
    mib = 2.0**20
    lines = []
    for worker, m in report.items():
        line = f"{worker}: peak {m['above_baseline'] / mib:.1f} MiB above a baseline of " \
               f"{m['baseline'] / mib:.1f} MiB"
        if m.get("predicted"):
            line += f"; plan {m['predicted'] / mib:.1f} MiB ({m['ratio']:.2f}x)"
        if not m["peak_from_baseline"]:
            line += " (the peak counts from the process's start: no clear_refs here)"
        lines.append(line)
    return lines
