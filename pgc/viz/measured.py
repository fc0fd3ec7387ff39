"""Read measured Chrome traces (the runtime's `--trace`) and align them with the prediction.

The reader is tolerant on purpose: traces come from other tools and other versions. It takes
`*.json` and `*.json.gz` files holding either `{"traceEvents": [...]}` or a bare event list;
complete slices (`ph: X`), begin/end pairs (`B`/`E`, per thread) or async pairs (`b`/`e`,
matched by category and id); the worker from `args.worker`, else the
process name, else the file name; the action from `args.action` / `action_id` / `id`, else the
slice name. Slices whose text is not an action (a barrier, a log line) are ignored. When a trace
holds several iterations (`args.step` / `args.iteration`, or repeated actions) the last complete
one is used. Times are re-based so the iteration starts at 0 on the earliest slice, and
divided by the rehearsal's time scale when the trace records one (`otherData.time_scale`).
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

from pgc.diagnostics import Diagnostic, UserError
from pgc.ir.types import NO_SPAN
from pgc.runtime.actions import ActionKind
from pgc.viz.timeline import Bar

ACTION_KINDS = get_args(ActionKind)  # a slice is an action when its text starts with a kind
_MB = re.compile(r"\bm(\d+)\b")
_ID_KEYS = ("action", "action_id", "id", "aid")
_STEP_KEYS = ("step", "iteration", "iter")


def _fail(message: str, hint: str | None = None) -> UserError:
    return UserError(Diagnostic(NO_SPAN, message, hint))


def load_events(path: Path) -> list[dict[str, Any]]:
    """The events of one trace file; raises UserError for a file that is not a trace."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        obj = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise _fail(f"cannot read trace {path}: {exc}") from None
    events = obj.get("traceEvents") if isinstance(obj, dict) else obj
    if not isinstance(events, list):
        raise _fail(f"{path} is not a Chrome trace (no traceEvents list)")
    return [e for e in events if isinstance(e, dict)]


def time_scale(path: Path) -> float:
    """The `--time-scale` a rehearsal ran at (the runtime writes `otherData.time_scale`; 1
    for other traces): its times are divided by it, to compare with the prediction."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        obj = json.loads(raw)
    except (OSError, ValueError):
        return 1.0
    other = obj.get("otherData") if isinstance(obj, dict) else None
    scale = other.get("time_scale") if isinstance(other, dict) else None
    return float(scale) if isinstance(scale, (int, float)) and scale > 0 else 1.0


@dataclass(frozen=True)
class _Slice:
    worker: str
    label: str
    step: int | None
    start_us: float
    end_us: float


def _kind(label: str) -> str | None:
    head = label.split(" ", 1)[0]
    return head if head in ACTION_KINDS else None


def _slices(events: list[dict[str, Any]], file_worker: str) -> list[_Slice]:
    names = {e.get("pid"): str(e.get("args", {}).get("name", "")) for e in events
             if e.get("ph") == "M" and e.get("name") == "process_name"}
    open_: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    out: list[_Slice] = []
    for e in events:
        ph = e.get("ph")
        key = _pair_key(e)
        if ph in ("B", "b"):
            open_.setdefault(key, []).append(e)
            continue
        if ph in ("E", "e"):
            stack = open_.get(key)
            if not stack:
                continue
            begin = stack.pop()
            merged = {**begin, "args": {**begin.get("args", {}), **e.get("args", {})}}
            s = _slice(merged, float(begin["ts"]), float(e["ts"]), names, file_worker)
        elif ph == "X" and "ts" in e:
            ts = float(e["ts"])
            s = _slice(e, ts, ts + float(e.get("dur", 0.0)), names, file_worker)
        else:
            continue
        if s is not None:
            out.append(s)
    return out


def _pair_key(e: dict[str, Any]) -> tuple[Any, ...]:
    """Sync begin/end pairs nest per thread; async ones match by category and id."""
    if e.get("ph") in ("b", "e"):
        return ("async", e.get("pid"), e.get("cat"), e.get("id"))
    return ("sync", e.get("pid"), e.get("tid"))


def _slice(
    e: dict[str, Any], start: float, end: float, names: dict[Any, str], file_worker: str
) -> _Slice | None:
    args = e.get("args") if isinstance(e.get("args"), dict) else {}
    assert isinstance(args, dict)
    label = next((str(args[k]) for k in _ID_KEYS if k in args and _kind(str(args[k]))), None)
    label = label or (str(e.get("name", "")) if _kind(str(e.get("name", ""))) else None)
    if label is None:
        return None
    worker = str(args.get("worker") or names.get(e.get("pid")) or file_worker)
    step = next((int(args[k]) for k in _STEP_KEYS if isinstance(args.get(k), int)), None)
    return _Slice(worker, " ".join(label.split()), step, start, end)


def _worker_from_file(path: Path) -> str:
    stem = path.name.split(".")[0]
    m = re.search(r"(?:rank|worker|trace)[_-]?(\w+)$", stem)
    return m.group(1) if m else stem


def _last_iteration(slices: list[_Slice]) -> list[_Slice]:
    """The slices of the last step that every worker reached; without step tags, the last
    occurrence of each (worker, action)."""
    steps = {s.step for s in slices if s.step is not None}
    if steps:
        per_worker: dict[str, set[int]] = {}
        for s in slices:
            if s.step is not None:
                per_worker.setdefault(s.worker, set()).add(s.step)
        common = set.intersection(*per_worker.values())
        chosen = max(common) if common else max(steps)
        return [s for s in slices if s.step == chosen]
    last: dict[tuple[str, str], _Slice] = {}
    for s in sorted(slices, key=lambda s: s.start_us):
        last[(s.worker, s.label)] = s
    return list(last.values())


def read_measured(directory: Path) -> list[Bar]:
    """Bars of the last measured iteration found in `directory`'s trace files, times in
    seconds from its first slice, sorted by (worker, start)."""
    if not directory.is_dir():
        raise _fail(f"--measured {directory}: not a directory",
                    hint="pass the directory the run's --trace wrote")
    files = sorted(p for p in directory.iterdir() if p.name.endswith((".json", ".json.gz")))
    slices = [replace(s, start_us=s.start_us / scale, end_us=s.end_us / scale)
              for f in files for scale in [time_scale(f)]
              for s in _slices(load_events(f), _worker_from_file(f))]
    if not slices:
        raise _fail(f"no action slices in the traces under {directory}",
                    hint="run the generated train.py with --trace DIR first")
    chosen = _last_iteration(slices)
    t0 = min(s.start_us for s in chosen)
    bars = [
        Bar(worker=s.worker, kind=_kind(s.label) or "", label=s.label,
            start=(s.start_us - t0) / 1e6, end=(s.end_us - t0) / 1e6, mb=_mb(s.label))
        for s in chosen
    ]
    return sorted(bars, key=lambda b: (b.worker, b.start, b.label))


def _mb(label: str) -> int:
    m = _MB.search(label)
    return int(m.group(1)) if m else -1


@dataclass(frozen=True)
class Aligned:
    """One action seen in the prediction, the measurement, or both."""

    worker: str
    label: str
    predicted: Bar | None
    measured: Bar | None

    @property
    def duration_diff(self) -> float | None:
        if self.predicted is None or self.measured is None:
            return None
        return (self.measured.end - self.measured.start) - (
            self.predicted.end - self.predicted.start
        )

    @property
    def start_diff(self) -> float | None:
        if self.predicted is None or self.measured is None:
            return None
        return self.measured.start - self.predicted.start


def align(predicted: list[Bar] | tuple[Bar, ...], measured: list[Bar]) -> list[Aligned]:
    """Pair actions by id (worker, action text), in predicted order, then measured-only ones."""
    seen = {(b.worker, b.label): b for b in measured}
    out: list[Aligned] = []
    for p in predicted:
        out.append(Aligned(p.worker, p.label, p, seen.pop((p.worker, p.label), None)))
    out += [Aligned(m.worker, m.label, None, m) for m in measured if (m.worker, m.label) in seen]
    return out
