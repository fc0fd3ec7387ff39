"""What a run tells its user: the JSON-lines log with a printed line per record, and traces.

`RunLog` is the one way records leave a run (rank 0 writes them): a JSON line in the log file
and, unless quiet, a short human line on stdout. `Tracer` writes per-worker Chrome traces on
the barrier-synchronised clock, each event carrying its step and the plan's action index.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .progress import Progress


@dataclass
class Clock:
    """Seconds since a barrier every worker passed together (the trace and emulation clock)."""

    t0: float = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.t0


class RunLog:
    """Records of one run (only rank 0 writes; the others hold a silent log).

    Every JSON line carries the run's id (`run`); the file is new for each run unless
    `append` (then runs follow each other in it, told apart by their id). Step records go
    through `step` (every `log_every`-th step, with the progress line), others through `record`.
    """

    def __init__(self, path: str | None, quiet: bool, append: bool = False) -> None:
        self.quiet = quiet
        self.run = run_id()
        self.file: IO[str] | None = open(path, "a" if append else "w") if path else None  # noqa: SIM115
        self.progress = Progress(0, 1, 1)

    def begin(self, start: int, total: int, every: int) -> None:
        """Training starts after step `start` and ends at step `total`; log every `every`."""
        self.progress = Progress(start, total, every)

    def _write(self, fields: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps({"run": self.run, **fields}) + "\n")
            self.file.flush()

    def record(self, fields: dict[str, Any], line: str, always: bool = False) -> None:
        """A record and its line (printed unless quiet; `always`: even then)."""
        self._write(fields)
        if (always or not self.quiet) and self.file is not None:
            self.progress.say(line)

    def step(self, done: int, fields: dict[str, Any], text: str) -> None:
        """Step `done`'s record (when it is a logged step) and progress line."""
        if self.progress.logged(done):
            self._write({"step": done, **fields})
        if not self.quiet and self.file is not None:
            self.progress.step(done, text)

    def say(self, text: str, always: bool = False) -> None:
        """A start-up line (`pgc: ...`), printed unless quiet; `always`: an event the user must
        see even then (a resume, a stop)."""
        if (always or not self.quiet) and self.file is not None:
            self.progress.say(f"pgc: {text}")

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def run_id() -> str:
    """A run's id: its start time (UTC) and 4 random hex digits, e.g. `20261204-182233-3f2a`."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + os.urandom(2).hex()


@dataclass
class Tracer:
    me: str
    rank: int
    clock: Clock
    scale: float = 1.0  # a rehearsal's --time-scale (readers divide times by it)
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, start: float, step: int, index: int) -> None:
        self.events.append({
            "name": name, "cat": name.split()[0], "ph": "X", "ts": round(start * 1e6, 1),
            "dur": round((self.clock.now() - start) * 1e6, 1), "pid": self.rank, "tid": self.me,
            "args": {"step": step, "action": index},
        })

    def write(self, directory: str) -> None:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        meta = {"name": "process_name", "ph": "M", "pid": self.rank, "args": {"name": self.me}}
        doc = {"traceEvents": [meta, *self.events], "displayTimeUnit": "ms",
               "otherData": {"time_scale": self.scale}}
        (out / f"{self.me}.json").write_text(json.dumps(doc))
