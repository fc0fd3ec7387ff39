"""Chrome trace JSON (the Trace Event Format read by Perfetto and chrome://tracing).

Each worker is a process (pid = its row). Compute (forward, backward, all-reduce, step) never
overlaps on a worker, so it is one thread of complete slices (`X`). Messages do overlap (a send
is in flight while the next leaves the NIC; receives are posted ahead), so SEND and RECV are
async slices (`b`/`e` with an id), which Perfetto stacks on their own tracks instead of
mis-nesting them. Times are microseconds, rounded to nanoseconds so the text is deterministic.

Reference: "Trace Event Format", Google, 2016 (docs.google.com/document/d/1CvAClvFfyA5R-PhYUmn5OOQtYMH4h6I0nSsKchNAySU).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pgc.viz.timeline import Timeline, lane


def _us(seconds: float) -> float:
    return round(seconds * 1e6, 3)


def chrome_trace(tl: Timeline) -> dict[str, Any]:
    """The trace as a JSON-ready dict: metadata events first, then slices in bar order."""
    pids = {w: i for i, w in enumerate(tl.workers)}
    events: list[dict[str, Any]] = []
    for w, pid in pids.items():
        events.append({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": w}})
        events.append({"ph": "M", "pid": pid, "name": "process_sort_index",
                       "args": {"sort_index": pid}})
        events.append({"ph": "M", "pid": pid, "tid": 0, "name": "thread_name",
                       "args": {"name": "compute"}})
    for n, b in enumerate(tl.bars):
        if b.worker not in pids:
            continue
        args: dict[str, Any] = {"worker": b.worker, "action": b.label}
        if b.mb >= 0:
            args["mb"] = b.mb
        if b.origin:
            args["origin"] = b.origin
        if b.critical:
            args["critical"] = True
        common = {"name": b.label, "cat": b.kind, "pid": pids[b.worker], "tid": 0}
        if lane(b.kind) == "compute":
            events.append({**common, "ph": "X", "ts": _us(b.start), "dur": _us(b.end - b.start),
                           "args": args})
        else:
            events.append({**common, "ph": "b", "id": n, "ts": _us(b.start), "args": args})
            events.append({**common, "ph": "e", "id": n, "ts": _us(b.end)})
    marks = [("iteration end", tl.iteration_time), ("pipeline end", tl.pipeline_time),
             ("lower bound", tl.lower_bound)]
    for name, t in marks:
        if t is not None:
            events.append({"ph": "i", "s": "g", "name": name, "pid": 0, "tid": 0, "ts": _us(t)})
    other = {"title": tl.title, "iteration_time_s": tl.iteration_time}
    if tl.lower_bound is not None:
        other["lower_bound_s"] = tl.lower_bound
    return {"displayTimeUnit": "ms", "otherData": other, "traceEvents": events}


def trace_text(tl: Timeline) -> str:
    """Deterministic JSON text, one event per line (readable diffs for golden tests).

    One `json.dumps` call for the whole trace (encoding 60,000 events one by one is several
    times slower); events are then split onto lines at `}, {"`, which JSON can only contain
    between list items (inside strings a quote is escaped)."""
    text = json.dumps(chrome_trace(tl), sort_keys=True)
    return text.replace('"traceEvents": [{', '"traceEvents": [\n  {').replace(
        '}, {"', '},\n  {"') + "\n"


def write_trace(tl: Timeline, path: Path) -> Path:
    path.write_text(trace_text(tl), encoding="utf-8")
    return path
