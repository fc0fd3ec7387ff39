"""Bookkeeping shared by the planner's searches: a work budget, terminal progress after the
first second, and the notes that `pgc plan --explain` prints.

The budget is counted in *predicted* seconds: every evaluation is charged what a cost formula
of the instance's size says it takes on a reference machine (`charge`), not what the clock
says, so a search stops at the same point on every run and machine and the plan is
deterministic for a seed. A cap of `CAP` x the budget in the search thread's own CPU time guards
against a machine far slower than the reference; when it cuts a search the notes say so (the
plan may then vary). CPU time rather than the wall clock, so that other programs loading the
machine never change the plan."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

CAP = 3.0


@dataclass
class Search:
    """A running search: `tick` reports progress on stderr once the search has taken more
    than `quiet_s` seconds (at most twice a second); `note` records what was tried."""

    name: str
    budget_s: float  # predicted seconds of work
    spent: float = 0.0
    quiet_s: float = 1.0
    out: TextIO = field(default_factory=lambda: sys.stderr)
    notes: list[str] = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)
    cpu_start: float = field(default_factory=time.thread_time)
    capped: bool = False
    _last: float = 0.0
    _printed: bool = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def charge(self, seconds: float) -> None:
        self.spent += seconds

    def cpu(self) -> float:
        """CPU seconds this thread has spent on the search."""
        return time.thread_time() - self.cpu_start

    def out_of_time(self) -> bool:
        if self.cpu() > CAP * self.budget_s and not self.capped:
            self.capped = True
            self.note(f"CPU-time cap hit ({CAP:g} x budget): this machine is slower than the "
                      "reference; the result may differ between runs")
        return self.spent >= self.budget_s or self.capped

    def extend(self, seconds: float) -> None:
        """Give the search `seconds` more predicted work from now on."""
        self.budget_s = self.spent + seconds
        self.cpu_start = time.thread_time() - self.spent

    def tick(self, message: str) -> None:
        now = self.elapsed()
        if now > self.quiet_s and now - self._last > 0.5:
            self._last = now
            self._printed = True
            self.out.write(f"\rpgc: {self.name}: {now:5.1f} s  {message}\033[K")
            self.out.flush()

    def note(self, message: str) -> None:
        self.notes.append(f"{self.name}: {message}")

    def finish(self) -> tuple[str, ...]:
        """End the progress line and return the notes (with the work done: deterministic,
        unlike the wall-clock time, which `pgc plan` reports as plan time)."""
        if self._printed:
            self.out.write("\n")
        self.note(f"work {self.spent:.2f} s predicted (budget {self.budget_s:.2f} s)")
        return tuple(self.notes)
