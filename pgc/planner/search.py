"""Bookkeeping shared by the planner's searches: a wall-clock budget, terminal progress after
the first second, and the notes that `pgc plan --explain` prints."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Search:
    """A running search: `tick` reports progress on stderr once the search has taken more
    than `quiet_s` seconds (at most twice a second); `note` records what was tried."""

    name: str
    budget_s: float
    quiet_s: float = 1.0
    out: TextIO = field(default_factory=lambda: sys.stderr)
    notes: list[str] = field(default_factory=list)
    start: float = field(default_factory=time.perf_counter)
    _last: float = 0.0
    _printed: bool = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def out_of_time(self) -> bool:
        return self.elapsed() > self.budget_s

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
        """End the progress line and return the notes (with the time taken)."""
        if self._printed:
            self.out.write("\n")
        self.note(f"took {self.elapsed():.2f} s")
        return tuple(self.notes)
