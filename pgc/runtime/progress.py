"""The progress a run prints: one line per logged step, with the time left.

On a terminal (stdout is a tty) the line is redrawn in place after every step and kept on
every `log_every`-th step, so the user sees the step, loss and ETA move; anywhere else (a pipe,
a log file) it prints plain lines, one per logged step, with no escape codes. The ETA is the
mean time of this run's steps so far times the steps left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

CLEAR = "\r\x1b[K"  # carriage return, then erase to the end of the line


def duration(seconds: float) -> str:
    """`1:02:03` / `2:03` for a non-negative number of seconds."""
    whole = int(round(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Step lines of one run: `start` steps already done (a resume), `total` to do."""

    def __init__(self, start: int, total: int, every: int, out: TextIO | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.out = out if out is not None else sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.start, self.total, self.every = start, total, max(1, every)
        self.clock = clock
        self.t0 = clock()
        self.open = False  # a redrawn line is on the terminal, not yet ended

    def logged(self, done: int) -> bool:
        """Whether step `done` (1-based) is logged: every `every`-th, and the last."""
        return done % self.every == 0 or done == self.total

    def eta(self, done: int) -> float:
        elapsed = self.clock() - self.t0
        return elapsed / max(1, done - self.start) * (self.total - done)

    def step(self, done: int, text: str) -> None:
        """After step `done`: `text` (the step's figures) with the step count and ETA."""
        line = f"step {done:>5}/{self.total}  {text}  eta {duration(self.eta(done))}"
        if self.tty:
            self.out.write(CLEAR + line)
            self.open = not self.logged(done)
            if not self.open:
                self.out.write("\n")
        elif self.logged(done):
            self.out.write(line + "\n")
        self.out.flush()

    def say(self, text: str) -> None:
        """A line of its own (an event, an evaluation), below any redrawn line."""
        if self.open:
            self.out.write("\n")
            self.open = False
        self.out.write(text + "\n")
        self.out.flush()
