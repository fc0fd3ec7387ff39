"""What a run tells its user: the JSON-lines log with a printed line per record, and traces.

`RunLog` is the one way records leave a run (rank 0 writes them): a JSON line in the log file
and, unless quiet, a short human line on stdout. `Tracer` writes per-worker Chrome traces on
the barrier-synchronised clock, each event carrying its step and the plan's action index.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass
class Clock:
    """Seconds since a barrier every worker passed together (the trace and emulation clock)."""

    t0: float = 0.0

    def now(self) -> float:
        return time.perf_counter() - self.t0


class RunLog:
    """Records of one run (only rank 0 writes; the others hold a silent log)."""

    def __init__(self, path: str | None, quiet: bool) -> None:
        self.quiet = quiet
        self.file: IO[str] | None = open(path, "a") if path else None  # noqa: SIM115

    def record(self, fields: dict[str, Any], line: str) -> None:
        if self.file is not None:
            self.file.write(json.dumps(fields) + "\n")
            self.file.flush()
        if not self.quiet and self.file is not None:
            print(line, flush=True)

    def say(self, text: str, always: bool = False) -> None:
        """A start-up line (`pgc: ...`), printed unless quiet; `always`: an event the user must
        see even then (a resume, a stop)."""
        if (always or not self.quiet) and self.file is not None:
            print(f"pgc: {text}", flush=True)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


@dataclass
class Tracer:
    me: str
    rank: int
    clock: Clock
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
        doc = {"traceEvents": [meta, *self.events], "displayTimeUnit": "ms"}
        (out / f"{self.me}.json").write_text(json.dumps(doc))
