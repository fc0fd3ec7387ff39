"""The runtime's memory measurement (`--memory-report`, pgc/runtime/memory.py) on this
process: the baseline forgets an earlier peak, a tensor allocated after it shows in the peak,
and with glibc's threshold at 128 KiB a freed tensor leaves the resident set at once."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from pgc.runtime.memory import MemoryMeter, memory_lines
from tests.conftest import pgc_env

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


RETURN_FREED_PROBE = """
import sys, torch
from pgc.runtime.memory import GLIBC_MMAP_THRESHOLD_MIN, resident, set_mmap_threshold
MIB = 1 << 20
if sys.argv[1] == "return-freed":
    assert set_mmap_threshold(GLIBC_MMAP_THRESHOLD_MIN)
big = torch.ones(16 * MIB // 4)
del big  # on this free glibc's own threshold rises to 16 MiB (its default behaviour)
before = resident()
pieces = [torch.ones(MIB // 4) for _ in range(32)]  # 1 MiB each
pin = torch.ones(1024)  # in the heap above them: the heap's top cannot shrink past it
grown = resident() - before
del pieces
print(grown / MIB, (resident() - before) / MIB)
"""


@linux
@pytest.mark.parametrize("allocator", ["return-freed", "glibc-default"])
def test_return_freed_gives_a_freed_tensor_back_at_once(allocator: str) -> None:
    """In a fresh process, after one large free has raised glibc's threshold: by default
    freed 1 MiB tensors stay resident in the heap; with the threshold held at 128 KiB
    (`--return-freed`) they are unmapped at once."""
    r = subprocess.run([sys.executable, "-c", RETURN_FREED_PROBE, allocator], env=pgc_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    grown, left = map(float, r.stdout.split())
    assert grown >= 30, r.stdout
    if allocator == "return-freed":
        assert left < grown / 4, r.stdout
    else:
        assert left > grown * 3 / 4, r.stdout


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
