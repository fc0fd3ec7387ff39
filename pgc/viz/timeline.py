"""The timeline: a per-worker Gantt chart of one iteration, as DOT with pinned positions.

Drawing it as DOT (the `nop2` engine keeps every `pos` as given, no layout runs) means one tool
makes every format (svg, png, pdf) and stays fast: 30,000 bars render to SVG in well under a
second. Each worker gets two lanes: compute (forward, backward, all-reduce, step) and the
messages it sends, from leaving its NIC to arriving (the simulator's SEND record). Receives are
not drawn: a RECV is posted early and only says when the data came, which the sender's bar
already shows. Idle stretches of the compute lane before the pipeline ends are drawn as pale
bubbles; bars on the critical path get a red border.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from pgc.viz.style import (
    CRITICAL,
    KIND_COLOURS,
    fmt_seconds,
    forward_colour,
    origin_colour,
)

COMPUTE_KINDS = frozenset({"F", "B", "ALLREDUCE", "STEP"})
PLOT_WIDTH = 1400.0  # points for the whole iteration
LEFT = 110.0  # room for worker names
ROW = 22.0  # points per worker
LANES = {"compute": (0.0, 13.0), "send": (14.5, 5.0)}  # offset from the row top, height
BUBBLE = "#efe9dc"
BIG_ROWS = 64  # above this many workers, PNGs render at half resolution (pixels cost time)

Scale = Callable[[float], float]  # seconds -> x in points


@dataclass(frozen=True)
class Bar:
    """One timed action of one worker (predicted by the simulator or measured by a run)."""

    worker: str
    kind: str  # an ActionKind: F, B, SEND_F, RECV_F, SEND_B, RECV_B, ALLREDUCE, STEP
    label: str  # the action's text form, e.g. "F s2 m5"; doubles as its id on that worker
    start: float  # seconds from the start of the iteration
    end: float
    mb: int = -1
    origin: str = ""  # the microbatch's origin worker (colour), "" for non-microbatch work
    critical: bool = False


@dataclass(frozen=True)
class Timeline:
    title: str
    workers: tuple[str, ...]  # row order, top to bottom
    bars: tuple[Bar, ...]
    iteration_time: float
    pipeline_time: float | None = None
    lower_bound: float | None = None
    origins: tuple[str, ...] = ()  # colour order (pgc.ir.queries.origins), as in the paths picture
    worker_notes: tuple[tuple[str, str], ...] = ()  # worker -> short text beside its name


def lane(kind: str) -> str:
    """`compute`, `send` or `recv` (receives are kept in traces, not drawn)."""
    if kind in COMPUTE_KINDS:
        return "compute"
    return "send" if kind.startswith("SEND") else "recv"


def bubbles(tl: Timeline) -> dict[str, list[tuple[float, float]]]:
    """Idle stretches of each worker's compute lane between 0 and the end of the pipeline
    phase (or of the iteration when the pipeline end is unknown). O(bars log bars)."""
    horizon = tl.pipeline_time if tl.pipeline_time is not None else tl.iteration_time
    busy: dict[str, list[tuple[float, float]]] = {w: [] for w in tl.workers}
    for b in tl.bars:
        if lane(b.kind) == "compute" and b.worker in busy:
            busy[b.worker].append((b.start, b.end))
    gaps: dict[str, list[tuple[float, float]]] = {}
    for worker, spans in busy.items():
        t, out = 0.0, []
        for start, end in sorted(spans):
            if start > t and start <= horizon:
                out.append((t, min(start, horizon)))
            t = max(t, end)
        if t < horizon:
            out.append((t, horizon))
        gaps[worker] = [g for g in out if g[1] - g[0] > 1e-12]
    return gaps


def idle_fraction(tl: Timeline) -> dict[str, float]:
    horizon = tl.pipeline_time if tl.pipeline_time is not None else tl.iteration_time
    if horizon <= 0:
        return {w: 0.0 for w in tl.workers}
    return {w: sum(e - s for s, e in g) / horizon for w, g in bubbles(tl).items()}


def _label_room(tl: Timeline) -> dict[int, float]:
    """Index of each compute bar -> idle seconds from its end to the next compute bar's start
    on its worker (to the end of the iteration for the last one). O(bars log bars)."""
    per_worker: dict[str, list[tuple[float, float, int]]] = {}
    for n, b in enumerate(tl.bars):
        if lane(b.kind) == "compute":
            per_worker.setdefault(b.worker, []).append((b.start, b.end, n))
    room: dict[int, float] = {}
    for spans in per_worker.values():
        spans.sort()
        for (_, end, n), (t_next, _, _) in zip(spans, spans[1:] + [(tl.iteration_time, 0, -1)]):
            room[n] = t_next - end
    return room


def nice_step(span: float, target: int = 10) -> float:
    """A 1-2-5 tick step giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: dict[str, str]) -> str:
    return " ".join(f"{k}={_q(v)}" for k, v in attrs.items())


class _Dot:
    """A tiny DOT writer for pinned nodes: string building, because the timeline of a big plan
    has tens of thousands of nodes and every microsecond per node shows."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.n = 0

    def box(self, x0: float, x1: float, y: float, h: float, **attrs: str) -> None:
        self.raw_box(x0, x1, y, h, _attrs(attrs))

    def raw_box(self, x0: float, x1: float, y: float, h: float, attrs: str) -> None:
        """A box from x0 to x1 centred on y; `attrs` is DOT attribute text, already quoted."""
        w = max(x1 - x0, 0.6)
        self.n += 1
        self.lines.append(
            f'b{self.n} [pos="{x0 + w / 2:.2f},{y:.2f}" width={w / 72:.4f} height={h / 72:.4f} '
            f"{attrs}]"
        )

    def text(self, x: float, y: float, label: str, **attrs: str) -> None:
        self.n += 1
        parts = [f"pos={_q(f'{x:.2f},{y:.2f}')}", "shape=plaintext", "style=\"\"",
                 f"label={_q(label)}"]
        parts += [f"{k}={_q(v)}" for k, v in attrs.items()]
        self.lines.append(f"t{self.n} [{' '.join(parts)}]")

    def line(self, x0: float, y0: float, x1: float, y1: float, **attrs: str) -> None:
        self.n += 1
        a, b = f"p{self.n}a", f"p{self.n}b"
        self.lines.append(f'{a} [pos="{x0:.2f},{y0:.2f}" shape=point width=0.01 label=""]')
        self.lines.append(f'{b} [pos="{x1:.2f},{y1:.2f}" shape=point width=0.01 label=""]')
        extra = " ".join(f"{k}={_q(v)}" for k, v in attrs.items())
        self.lines.append(f"{a} -> {b} [arrowhead=none {extra}]")


def timeline_dot(tl: Timeline) -> str:
    """The DOT text of the Gantt chart (render with `dot`; the graph selects layout nop2)."""
    end = max([tl.iteration_time] + [b.end for b in tl.bars] + [tl.lower_bound or 0.0])
    scale = PLOT_WIDTH / end if end > 0 else 1.0
    rows = {w: i for i, w in enumerate(tl.workers)}
    top = ROW * len(tl.workers)

    def x(t: float) -> float:
        return LEFT + t * scale

    def y(worker: str, lane_name: str) -> float:
        offset, height = LANES[lane_name]
        return top - rows[worker] * ROW - offset - height / 2

    d = _Dot()
    idle = idle_fraction(tl)
    _draw_rows(d, tl, idle, top)
    colour_of = {o: i for i, o in enumerate(tl.origins)}
    # Bubbles: the compute lane is pale until the pipeline phase ends and bars cover the busy
    # part, so what stays pale is idle. One box per row, not one per gap: a big plan has tens
    # of thousands of gaps and each node costs graphviz time.
    horizon = tl.pipeline_time if tl.pipeline_time is not None else tl.iteration_time
    for worker in tl.workers:
        tip = _q(f"{worker} idle {idle[worker] * 100:.0f}% of the pipeline phase")
        d.raw_box(x(0.0), x(horizon), y(worker, "compute"), LANES["compute"][1],
                  f'fillcolor="{BUBBLE}" color="{BUBBLE}" label="" tooltip={tip}')
    styles: dict[tuple[str, str, bool], str] = {}  # the few distinct styles, formatted once
    room = _label_room(tl)
    for n, b in enumerate(tl.bars):
        ln = lane(b.kind)
        if b.worker not in rows or ln not in LANES:
            continue
        key = (b.kind, b.origin, b.critical)
        if key not in styles:
            styles[key] = _attrs(_bar_style(b, colour_of))
        label = f"m{b.mb}" if b.mb >= 0 and ln == "compute" else ""
        need = 5.2 * len(label) + 2
        if label and (b.end - b.start) * scale < need:
            # too narrow to hold its label: write it right after the bar when the worker idles
            # long enough there, else leave it to the tooltip
            if room.get(n, 0.0) * scale >= need + 1:
                d.text(x(b.end) + 1 + need / 2, y(b.worker, ln), label, fontsize="6.5",
                       fontcolor="#333333", width=f"{need / 72:.3f}", height="0.12",
                       fixedsize="true")
            label = ""
        tip = _q(
            f"{b.worker}: {b.label}  {b.start:.6g} - {b.end:.6g} s ({fmt_seconds(b.end - b.start)})"
            f"{'  critical' if b.critical else ''}"
        )
        d.raw_box(x(b.start), x(b.end), y(b.worker, ln), LANES[ln][1],
                  f'{styles[key]} label="{label}" tooltip={tip}')
    _draw_axis(d, end, x)
    _draw_markers(d, tl, x, top)
    _draw_legend(d, top)
    dpi = " dpi=48" if len(tl.workers) > BIG_ROWS else ""
    header = (
        f'digraph timeline {{\nlayout=nop2 outputorder=nodesfirst bgcolor=white{dpi} '
        'fontname=Helvetica\nnode [shape=box fixedsize=true style=filled fontname=Helvetica '
        'fontsize=7 penwidth=0.4 color="#ffffff"]\nedge [color="#888888"]\n'
    )
    return header + "\n".join(d.lines) + "\n}\n"


def _bar_style(b: Bar, colour_of: dict[str, int]) -> dict[str, str]:
    if b.kind in ("F", "B") and b.origin in colour_of:
        i = colour_of[b.origin]
        fill = forward_colour(i) if b.kind == "F" else origin_colour(i)
    else:
        fill = KIND_COLOURS.get(b.kind, "#cccccc")
    attrs = {"fillcolor": fill}
    if b.kind == "B" or b.kind in ("ALLREDUCE", "STEP"):
        attrs["fontcolor"] = "white"
    if b.critical:
        attrs.update(color=CRITICAL, penwidth="1.6")
    return attrs


def _draw_rows(d: _Dot, tl: Timeline, idle: dict[str, float], top: float) -> None:
    notes = dict(tl.worker_notes)
    for i, w in enumerate(tl.workers):
        yc = top - i * ROW - ROW / 2 + 2
        note = notes.get(w, "")
        label = f"{w}{'  ' + note if note else ''}\nidle {idle.get(w, 0.0) * 100:.0f}%"
        d.text(LEFT - 55, yc, label, fontsize="8", width="1.4", height="0.3", fixedsize="true")
    d.line(LEFT, top, LEFT + PLOT_WIDTH, top, color="#dddddd")


def _draw_axis(d: _Dot, end: float, x: Scale) -> None:
    step = nice_step(end)
    t = 0.0
    d.line(x(0.0), -2, x(end), -2, color="#444444")
    while t <= end * 1.0001:
        d.line(x(t), -2, x(t), -6, color="#444444")
        d.text(x(t), -14, fmt_seconds(t), fontsize="8", width="0.7", height="0.2",
               fixedsize="true")
        t += step


def _draw_markers(d: _Dot, tl: Timeline, x: Scale, top: float) -> None:
    marks = [("iteration", tl.iteration_time, "#222222")]
    if tl.pipeline_time is not None and tl.pipeline_time != tl.iteration_time:
        marks.append(("pipeline", tl.pipeline_time, "#555555"))
    if tl.lower_bound is not None:
        marks.append(("lower bound", tl.lower_bound, "#2ca02c"))
    for i, (name, t, colour) in enumerate(marks):
        d.line(x(t), -2, x(t), top + 4 + 12 * i, color=colour, style="dashed")
        d.text(x(t), top + 10 + 12 * i, f"{name} {fmt_seconds(t)}", fontsize="8",
               fontcolor=colour, width="1.4", height="0.17", fixedsize="true")
    title = tl.title + f"\niteration {fmt_seconds(tl.iteration_time)}"
    if tl.pipeline_time is not None:
        title += f" (pipeline {fmt_seconds(tl.pipeline_time)})"
    if tl.lower_bound:
        gap = tl.iteration_time / tl.lower_bound - 1
        title += f", lower bound {fmt_seconds(tl.lower_bound)}, gap {gap * 100:.1f}%"
    d.text(LEFT + PLOT_WIDTH / 2, top + 30 + 12 * len(marks), title, fontsize="12",
           width="9", height="0.4", fixedsize="true")


def _draw_legend(d: _Dot, top: float) -> None:
    items = [
        ("forward", forward_colour(0), "#ffffff"),
        ("backward", origin_colour(0), "#ffffff"),
        ("activation sent", KIND_COLOURS["SEND_F"], "#ffffff"),
        ("gradient sent", KIND_COLOURS["SEND_B"], "#ffffff"),
        ("all-reduce", KIND_COLOURS["ALLREDUCE"], "#ffffff"),
        ("step", KIND_COLOURS["STEP"], "#ffffff"),
        ("idle", BUBBLE, BUBBLE),
        ("critical path", "#ffffff", CRITICAL),
    ]
    for i, (name, fill, border) in enumerate(items):
        x0 = LEFT + i * 110
        d.box(x0, x0 + 14, -32, 9, fillcolor=fill, color=border, penwidth="1.2", label="")
        d.text(x0 + 50, -32, name, fontsize="8", width="1", height="0.17", fixedsize="true")
