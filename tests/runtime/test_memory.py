"""The runtime's memory measurement (`--memory-report`, pgc/runtime/memory.py) on this
process: the baseline forgets an earlier peak, a tensor allocated after it shows in the peak,
and with glibc's threshold at 128 KiB a freed tensor leaves the resident set at once."""

from __future__ import annotations

import sys

import pytest
import torch

from pgc.runtime.memory import (
    GLIBC_MMAP_THRESHOLD_MAX,
    GLIBC_MMAP_THRESHOLD_MIN,
    MemoryMeter,
    memory_lines,
    resident,
    set_mmap_threshold,
)

MIB = 1 << 20
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")


def touch(mib: int) -> torch.Tensor:
    return torch.ones(mib * MIB // 4)  # every page written


@linux
def test_peak_above_baseline_counts_what_follows_the_baseline_only() -> None:
    early = touch(96)  # a peak before the baseline
    del early
    meter = MemoryMeter.start(torch.device("cpu"))
    assert meter.reset
    quiet = meter.measure()
    assert quiet["above_baseline"] < 16 * MIB, quiet  # the earlier 96 MiB peak is forgotten
    held = touch(48)
    m = meter.measure()
    assert 48 * MIB <= m["above_baseline"] < 64 * MIB, m
    assert m["peak"] == m["baseline"] + m["above_baseline"]
    del held


@linux
def test_return_freed_gives_a_freed_tensor_back_at_once() -> None:
    assert set_mmap_threshold(GLIBC_MMAP_THRESHOLD_MIN)
    try:
        before = resident()
        pieces = [touch(1) for _ in range(32)]  # 1 MiB each: heap-sized for glibc's default
        pin = torch.ones(1024)  # in the heap above them: the heap's top cannot shrink past it
        grown = resident() - before
        del pieces
        assert grown >= 30 * MIB
        # mapped, so unmapped on free (glibc's default keeps all ~32 MiB in the heap); the
        # margin allows for other allocations of this process meanwhile (a test worker's)
        assert resident() - before < grown / 3
        del pin
    finally:
        set_mmap_threshold(GLIBC_MMAP_THRESHOLD_MAX)


def test_report_lines_name_worker_measured_and_prediction() -> None:
    report = {"n0": {"baseline": 200 * MIB, "above_baseline": 110 * MIB, "predicted": 100 * MIB,
                     "ratio": 1.1, "peak_from_baseline": True},
              "n1": {"baseline": 200 * MIB, "above_baseline": 50 * MIB,
                     "peak_from_baseline": False}}
    assert memory_lines(report) == [
        "n0: peak 110.0 MiB above a baseline of 200.0 MiB; plan 100.0 MiB (1.10x)",
        "n1: peak 50.0 MiB above a baseline of 200.0 MiB (the peak counts from the process's "
        "start: no clear_refs here)",
    ]
