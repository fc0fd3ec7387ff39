"""The interactive view: one self-contained HTML page (inline SVG, CSS and script; nothing is
fetched) with the pipeline graph, the microbatch paths and the timeline of one plan.

Every panel zooms (wheel, or the + / - buttons; drag pans; double-click resets) and every mark
carries its details for hovering (worker, region, rate, memory, stage, busy time; microbatch,
origin, path; action, start, end). Drawn to hold at hundreds of workers:
- graph: one column per stage (the ring's loss column last); a column shows one box per worker
  up to `WORKER_BOXES` workers, else one box per region (its workers listed on hover); the edges
  join stages, not workers, with the number of microbatches on each (skips dashed, swaps
  magenta), so their count grows with stages, not workers;
- paths: a microbatch x stage grid, each cell the visit's order on the path and its worker;
- timeline: one row per worker in stage order (rows shrink with the worker count; rows too thin
  for a worker's name are labelled by stage band), forward, backward, all-reduce and step bars,
  the critical path outlined, pipeline end and bound marked.
Script errors are written into the page (`#errors`) so a headless browser can check for them.
O(actions + microbatches x stages) to build.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from collections.abc import Iterable

from pgc.ir.queries import origins, stage_of_worker
from pgc.ir.types import Program
from pgc.viz.layout import Column, classify_steps, columns, segment_positions
from pgc.viz.style import (
    CRITICAL,
    KIND_COLOURS,
    SKIP_EDGE,
    SWAP_EDGE,
    fmt_bytes,
    fmt_rate,
    fmt_seconds,
    forward_colour,
    origin_colour,
    region_fill,
)
from pgc.viz.timeline import Timeline

WORKER_BOXES = 12  # above this many workers in a stage, its column shows regions
MAX_COLUMNS = 10  # above this many stage columns, stages are drawn as rows
COL_W, BOX_W, BOX_H = 190.0, 150.0, 34.0
LEFT_V, ROW_V = 250.0, 80.0  # rows: room for the stage's name, pitch
TL_LEFT, TL_WIDTH = 110.0, 1300.0  # timeline: room for row labels, width of the time axis


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str, extra: str = "") -> str:
    return (f'<rect x="{x:.2f}" y="{y:.2f}" width="{max(w, 0.5):.2f}" height="{h:.2f}" '
            f'fill="{fill}" data-tip="{_attr(tip)}"{extra}/>')


def _text(x: float, y: float, text: str, size: float = 12, anchor: str = "middle",
          extra: str = "") -> str:
    return (f'<text x="{x:.2f}" y="{y:.2f}" font-size="{size:g}" text-anchor="{anchor}"'
            f'{extra}>{html.escape(text)}</text>')


def _svg(width: float, height: float, body: Iterable[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'data-w="{width:.0f}" data-h="{height:.0f}">' + "".join(body) + "</svg>")


def _worker_tip(program: Program, name: str, stage: str, busy: dict[str, float]) -> str:
    w = program.worker(name)
    return (f"worker {name} · region {w.region or '-'} · {fmt_rate(w.rate)} · "
            f"{fmt_bytes(w.memory)} · stage {stage} · busy {fmt_seconds(busy.get(name, 0.0))}")


Box = tuple[str, str, str, str]  # label, fill, hover text, class


def _column_boxes(program: Program, col: Column, fill: dict[str, str],
                  busy: dict[str, float]) -> list[Box]:
    """A column's boxes: one per worker up to WORKER_BOXES workers, else one per region."""
    stage = "origin" if col.key == "_loss" else col.key
    members = [w for _, ws in col.regions for w in ws]
    if len(members) <= WORKER_BOXES:
        return [(f"{w.name} · {w.region}" + (" (loss)" if col.suffix else ""), fill[w.region],
                 _worker_tip(program, w.name, stage, busy), "worker") for w in members]
    return [(f"{region} · {len(ws)} workers", fill[region],
             f"stage {stage} · region {region}: {len(ws)} workers: "
             + ", ".join(w.name for w in ws), "region") for region, ws in col.regions]


def graph_svg(program: Program) -> str:
    """Stage columns (rows, above MAX_COLUMNS stages) with worker or region boxes, and
    stage-to-stage edges with microbatch counts."""
    cols = [c for c in columns(program) if c.key != "_unused"]
    regions = sorted({w.region for w in program.workers})
    fill = {r: region_fill(i) for i, r in enumerate(regions)}
    busy = dict(program.prediction.busy) if program.prediction else {}
    boxes = [_column_boxes(program, col, fill, busy) for col in cols]
    vertical = len(cols) > MAX_COLUMNS
    body: list[str] = []
    anchors: list[tuple[float, float, float, float]] = []  # x0, y0, x1, y1 of a column's boxes
    for i, (col, column) in enumerate(zip(cols, boxes)):
        head, _, visits = col.label.partition("\\n")
        count = sum(len(ws) for _, ws in col.regions)
        lines = [_name(col), visits, f"{count} worker{'s' if count != 1 else ''}"]
        if vertical:
            x, y = LEFT_V, 30 + i * ROW_V
            for k, (text, size) in enumerate(zip(lines, (14, 10, 11))):
                body.append(_text(16, y + 12 + 14 * k, text, size, "start",
                                  ' font-weight="bold"' if k == 0 else ' fill="#555"'))
        else:
            x, y = 40 + i * COL_W, 70.0
            for k, (text, size) in enumerate(zip(lines, (14, 10, 11))):
                body.append(_text(x + BOX_W / 2, 24 + 16 * k, text, size,
                                  extra=' font-weight="bold"' if k == 0 else ' fill="#555"'))
        x0, y0 = x, y
        for label, colour, tip, cls in column:
            body.append(_rect(x, y, BOX_W, BOX_H, colour, tip,
                              f' rx="6" stroke="#333" class="{cls}"'))
            body.append(_text(x + BOX_W / 2, y + 21, label, 12))
            if vertical:
                x += BOX_W + 10
            else:
                y += BOX_H + 8
        anchors.append((x0, y0, x if vertical else x0 + BOX_W, y0 + BOX_H if vertical else y))
    width = max(a[2] for a in anchors) + 40
    bows = program.skip.ratio[0] > 0 or program.swap.max_swaps > 0  # room for skip arcs
    height = max(a[3] for a in anchors) + (40 if vertical or not bows else 140)
    curves, counts = _stage_edges(program, cols, anchors, vertical, width if vertical else height)
    return _svg(width + (160 if vertical else 0), height, curves + body + counts)


def _name(col: Column) -> str:
    return col.label.partition("\\n")[0].split(" (")[0] + (" (loss)" if col.suffix else "")


def _column_of_hops(program: Program, cols: list[Column]) -> dict[str, int]:
    """Segment -> its column (the ring's epilogue goes to the loss column)."""
    index = {c.key: i for i, c in enumerate(cols)}
    out = {}
    for seg in program.segments:
        out[seg.name] = index["_loss"] if seg.role == "epilogue" and "_loss" in index else \
            index[seg.stage]
    return out


def _stage_edges(program: Program, cols: list[Column],
                 anchors: list[tuple[float, float, float, float]], vertical: bool,
                 extent: float) -> tuple[list[str], list[str]]:
    """One curve per (column, column, step kind) and its microbatch count (drawn last, over
    the boxes); next steps join neighbours directly, skips and swaps bow out (below the
    columns, or right of the rows)."""
    col_of = _column_of_hops(program, cols)
    positions = segment_positions(program)
    steps: Counter[tuple[int, int, str]] = Counter()
    for path in program.paths:
        kinds = classify_steps(path, positions)
        for (h1, h2), step in zip(zip(path.hops, path.hops[1:]), kinds):
            steps[(col_of[h1.segment], col_of[h2.segment], step)] += 1
    total = max(len(program.paths), 1)
    out, counts = [], []
    for (a, b, kind), n in sorted(steps.items()):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = anchors[a], anchors[b]
        bow = 0.0 if kind == "next" and abs(b - a) == 1 else min(abs(b - a), 6) / 6
        if vertical:  # rows: leave a row at its bottom (forward) or top (back)
            x1, x2 = (ax0 + ax1) / 2, (bx0 + bx1) / 2
            y1, y2 = (ay1, by0) if b > a else (ay0, by1)
            cx = max(x1, x2) + bow * (extent - max(x1, x2) + 120)
            cy1, cy2 = y1, y2
            cx1 = cx2 = cx if bow else (x1 + x2) / 2
        else:  # columns: leave a column at its right (forward) or left (back)
            x1, x2 = (ax1, bx0) if b > a else (ax0, bx1)
            y1, y2 = (ay0 + ay1) / 2, (by0 + by1) / 2
            cy = max(y1, y2) + bow * (extent - 60 - max(y1, y2))
            cx1 = cx2 = (x1 + x2) / 2
            cy1 = cy2 = cy if bow else (y1 + y2) / 2
        colour = {"next": "#555", "skip": SKIP_EDGE, "swap": SWAP_EDGE}[kind]
        dash = ' stroke-dasharray="8 5"' if kind == "skip" else ""
        tip = (f"{_name(cols[a])} -> {_name(cols[b])}: {n} "
               f"microbatch{'es' if n != 1 else ''} ({kind})")
        d = f"M{x1:.1f},{y1:.1f} C{cx1:.1f},{cy1:.1f} {cx2:.1f},{cy2:.1f} {x2:.1f},{y2:.1f}"
        out.append(f'<path d="{d}" fill="none" stroke="{colour}" '
                   f'stroke-width="{1.5 + 7.0 * n / total:.1f}"{dash} opacity="0.75" '
                   f'data-tip="{_attr(tip)}"/>')
        mid_x = (x1 + 3 * cx1 + 3 * cx2 + x2) / 8  # the curve's own midpoint
        mid_y = (y1 + 3 * cy1 + 3 * cy2 + y2) / 8
        # beside the curve, not on it, with a white halo where other curves cross it
        counts.append(_text(mid_x + 5 if vertical else mid_x, mid_y + 4 if vertical else mid_y - 4,
                            f"{n}", 11, "start" if vertical else "middle",
                            f' fill="{colour}" stroke="#fff" stroke-width="3" '
                            'paint-order="stroke"'))
    return out, counts


def paths_svg(program: Program) -> str:
    """A microbatch x stage grid: each visited cell shows the visit's order and worker."""
    stages = [s.name for s in program.stages]
    colour = {o: i for i, o in enumerate(origins(program))}
    cell_w, cell_h, left = 86.0, 18.0, 120.0
    body = [_text(left + (j + 0.5) * cell_w, 24, s, 13, extra=' font-weight="bold"')
            for j, s in enumerate(stages)]
    for row, path in enumerate(sorted(program.paths, key=lambda p: p.mb)):
        y = 34 + row * cell_h
        route = " -> ".join(f"{program.segment(h.segment).stage}@{h.worker}" for h in path.hops)
        body.append(_text(left - 8, y + 13, f"mb{path.mb} · {path.origin}", 11, "end"))
        seen: dict[str, tuple[int, str]] = {}
        for k, h in enumerate(path.hops):
            seen.setdefault(program.segment(h.segment).stage, (k, h.worker))
        for j, s in enumerate(stages):
            x = left + j * cell_w
            if s not in seen:
                body.append(_rect(x + 1, y + 1, cell_w - 2, cell_h - 2, "#f3f3f3",
                                  f"mb{path.mb} skips {s}"))
                continue
            k, worker = seen[s]
            fill = forward_colour(colour.get(path.origin, 0))
            tip = (f"mb{path.mb} (origin {path.origin}): visit {k + 1} at {s} on {worker} "
                   f"({program.worker(worker).region}); path {route}")
            body.append(_rect(x + 1, y + 1, cell_w - 2, cell_h - 2, fill, tip,
                              f' stroke="{origin_colour(colour.get(path.origin, 0))}" class="cell"'))
            body.append(_text(x + cell_w / 2, y + 13, f"{k + 1}: {worker}", 10,
                              extra=' pointer-events="none"'))
    return _svg(left + len(stages) * cell_w + 20, 44 + len(program.paths) * cell_h, body)


def timeline_svg(program: Program, tl: Timeline) -> str:
    """Per-worker rows (stage order) of compute bars over one iteration."""
    stage_of = stage_of_worker(program)
    order = {s.name: i for i, s in enumerate(program.stages)}
    rows = sorted(tl.workers, key=lambda w: (order.get(stage_of.get(w, ""), len(order)),
                                              tl.workers.index(w)))
    row_h = max(4.0, min(18.0, 1100.0 / max(len(rows), 1)))
    left, width = TL_LEFT, TL_WIDTH
    end = max(tl.iteration_time, 1e-12)

    def x(t: float) -> float:
        return left + width * t / end

    colour = {o: i for i, o in enumerate(tl.origins)}
    y_of = {w: 30 + i * row_h for i, w in enumerate(rows)}
    body = _row_labels(rows, stage_of, y_of, row_h) if row_h >= 8 else \
        _stage_bands(rows, stage_of, y_of, row_h)
    for b in tl.bars:
        if b.kind not in ("F", "B", "ALLREDUCE", "STEP") or b.worker not in y_of:
            continue
        if b.kind in ("F", "B"):
            c = colour.get(b.origin, 0)
            fill = forward_colour(c) if b.kind == "F" else origin_colour(c)
        else:
            fill = KIND_COLOURS[b.kind]
        tip = (f"{b.worker} ({stage_of.get(b.worker, '-')}): {b.label} · "
               f"{fmt_seconds(b.start)} -> {fmt_seconds(b.end)} ({fmt_seconds(b.end - b.start)})"
               + (f" · origin {b.origin}" if b.origin else "") + (" · critical path" if b.critical else ""))
        stroke = f' stroke="{CRITICAL}" stroke-width="1"' if b.critical else ""
        body.append(_rect(x(b.start), y_of[b.worker] + 1, x(b.end) - x(b.start), row_h - 2,
                          fill, tip, stroke + ' class="bar"'))
    bottom = 30 + len(rows) * row_h
    # the two marks' labels on two lines above the rows: a bound close to the pipeline's end
    # (a good plan) must not write over it
    for t, name, ink, y in ((tl.pipeline_time, "pipeline end", "#333", 12),
                            (tl.lower_bound, "lower bound", CRITICAL, 25)):
        if t is not None and t <= end:
            body.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="28" y2="{bottom:.1f}" '
                        f'stroke="{ink}" stroke-dasharray="4 3"/>')
            body.append(_text(x(t), y, f"{name} {fmt_seconds(t)}", 11, extra=f' fill="{ink}"'))
    body.append(_text(left + width, bottom + 16, f"iteration {fmt_seconds(tl.iteration_time)}",
                      11, "end"))
    return _svg(left + width + 20, bottom + 24, body)


def _row_labels(rows: list[str], stage_of: dict[str, str], y_of: dict[str, float],
                row_h: float) -> list[str]:
    """One label per worker row: its name and stage."""
    return [_text(TL_LEFT - 6, y_of[w] + row_h * 0.75, f"{w} {stage_of.get(w, '')}",
                  min(11.0, row_h - 1), "end") for w in rows]


def _stage_bands(rows: list[str], stage_of: dict[str, str], y_of: dict[str, float],
                 row_h: float) -> list[str]:
    """Rows too thin to name each worker: one label per stage's band of rows (stage and worker
    count, the workers on hover) and a rule between bands."""
    bands: list[list[str]] = []
    for w in rows:
        if bands and stage_of.get(bands[-1][0]) == stage_of.get(w):
            bands[-1].append(w)
        else:
            bands.append([w])
    out = []
    for band in bands:
        top, stage = y_of[band[0]], stage_of.get(band[0], "-")
        mid = top + len(band) * row_h / 2
        tip = f"stage {stage}: {len(band)} workers: " + ", ".join(band)
        out.append(_rect(4, top, TL_LEFT - 8, len(band) * row_h, "#fff", tip,
                         ' fill-opacity="0" class="band"'))
        out.append(_text(TL_LEFT - 6, mid + 4, f"{stage} · {len(band)} workers",
                         min(11.0, len(band) * row_h), "end", ' pointer-events="none"'))
        out.append(f'<line x1="4" x2="{TL_LEFT + TL_WIDTH:.1f}" y1="{top:.1f}" y2="{top:.1f}" '
                   'stroke="#bbb" stroke-width="0.5"/>')
    return out


def view_html(program: Program, tl: Timeline | None = None) -> str:
    """The whole page (module docstring) for a simulated program; `tl`: its predicted
    timeline when the caller has it already."""
    from pgc.viz.predicted import predicted_timeline

    tl = tl or predicted_timeline(program)
    p = program.prediction
    summary = (f"{len(program.workers)} workers, {len(program.stages)} stages, "
               f"{program.microbatches} microbatches, schedule {program.schedule}")
    if p is not None:
        summary += (f"; pipeline {fmt_seconds(p.pipeline_time)}, iteration "
                    f"{fmt_seconds(p.iteration_time)} (bound {fmt_seconds(p.lower_bound)})")
    panels = [("graph", "Pipeline graph: stages, workers by region, microbatches per step",
               graph_svg(program)),
              ("paths", "Microbatch paths: visit order and worker per stage", paths_svg(program)),
              ("timeline", "Timeline: simulated iteration per worker", timeline_svg(program, tl))]
    sections = "".join(
        f'<section id="{key}"><h2>{html.escape(title)}</h2><div class="tools">'
        f'<button data-zoom="1.25">+</button><button data-zoom="0.8">&minus;</button>'
        f'<button data-zoom="0">reset</button></div><div class="pane">{svg}</div></section>'
        for key, title, svg in panels)
    title = html.escape(f"{program.name}: plan")
    return PAGE.format(title=title, summary=html.escape(summary), sections=sections,
                       meta=html.escape(json.dumps({"workers": len(program.workers)})))


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>
window.pgcErrors = [];
function pgcRecord(msg) {{
  window.pgcErrors.push(String(msg));
  var box = document.getElementById("errors");
  if (box) {{ box.textContent = window.pgcErrors.join("\\n"); }}
}}
window.addEventListener("error", function (e) {{ pgcRecord(e.message || "resource error"); }}, true);
window.addEventListener("unhandledrejection", function (e) {{ pgcRecord(e.reason); }});
var pgcConsoleError = console.error;
console.error = function () {{ pgcRecord(Array.prototype.join.call(arguments, " "));
  pgcConsoleError.apply(console, arguments); }};
</script>
<style>
body {{ font-family: sans-serif; margin: 16px; color: #222; }}
section {{ margin-bottom: 24px; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} h2 {{ font-size: 16px; margin: 8px 0; }}
.pane {{ border: 1px solid #ccc; height: 70vh; overflow: hidden; cursor: grab; background: #fff; }}
.pane svg {{ width: 100%; height: 100%; display: block; font-family: sans-serif; }}
.tools button {{ margin-right: 4px; }}
#tip {{ position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 8px;
  border-radius: 4px; font-size: 12px; max-width: 520px; display: none; z-index: 10; }}
[data-tip]:hover {{ opacity: 0.8; }}
</style></head>
<body data-meta="{meta}">
<h1>{title}</h1><p>{summary}. Wheel or +/&minus; to zoom, drag to pan, double-click to reset,
hover for details.</p>
<div id="errors"></div><div id="tip"></div>
{sections}
<script>
(function () {{
  var tip = document.getElementById("tip");
  document.addEventListener("mouseover", function (e) {{
    var t = e.target.closest ? e.target.closest("[data-tip]") : null;
    if (!t) {{ tip.style.display = "none"; return; }}
    tip.textContent = t.getAttribute("data-tip"); tip.style.display = "block";
  }});
  document.addEventListener("mousemove", function (e) {{
    tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 14) + "px";
  }});
  function setup(section) {{
    var svg = section.querySelector("svg"), pane = section.querySelector(".pane");
    var full = [0, 0, +svg.getAttribute("data-w"), +svg.getAttribute("data-h")];
    pane.style.height = Math.max(200, Math.min(900, window.innerHeight * 0.85,
      pane.clientWidth * full[3] / full[2])) + "px";
    var box = full.slice();
    function apply() {{ svg.setAttribute("viewBox", box.join(" ")); }}
    function zoom(f, cx, cy) {{
      if (f === 0) {{ box = full.slice(); apply(); return; }}
      var w = box[2] / f, h = box[3] / f;
      box = [cx - (cx - box[0]) / f, cy - (cy - box[1]) / f, w, h]; apply();
    }}
    function point(e) {{
      var r = svg.getBoundingClientRect();
      var s = Math.max(box[2] / r.width, box[3] / r.height);
      return [box[0] + (e.clientX - r.left) * s, box[1] + (e.clientY - r.top) * s];
    }}
    section.querySelectorAll("button[data-zoom]").forEach(function (b) {{
      b.addEventListener("click", function () {{
        zoom(+b.getAttribute("data-zoom"), box[0] + box[2] / 2, box[1] + box[3] / 2);
      }});
    }});
    svg.addEventListener("wheel", function (e) {{
      e.preventDefault(); var p = point(e); zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, p[0], p[1]);
    }}, {{ passive: false }});
    var drag = null;
    svg.addEventListener("mousedown", function (e) {{ drag = point(e); }});
    window.addEventListener("mouseup", function () {{ drag = null; }});
    svg.addEventListener("mousemove", function (e) {{
      if (!drag) {{ return; }}
      var p = point(e); box[0] += drag[0] - p[0]; box[1] += drag[1] - p[1]; apply();
    }});
    svg.addEventListener("dblclick", function () {{ zoom(0); }});
  }}
  document.querySelectorAll("section").forEach(setup);
  document.body.setAttribute("data-ready", String(document.querySelectorAll("[data-tip]").length));
  if (location.hash === "#selftest") {{ selftest(); }}
  // Exercises zoom and hover the way a user's events would, and writes what happened into
  // the page (`data-selftest`), so a headless browser can check the page works.
  function selftest() {{
    var out = [];
    document.querySelectorAll("section").forEach(function (section) {{
      var svg = section.querySelector("svg"), before = svg.getAttribute("viewBox");
      section.querySelector('button[data-zoom="1.25"]').click();
      var zoomed = svg.getAttribute("viewBox");
      svg.dispatchEvent(new MouseEvent("dblclick", {{ bubbles: true }}));
      out.push(section.id + ":" + (zoomed !== before && svg.getAttribute("viewBox") === before
                                   ? "zoom" : "nozoom"));
      var mark = section.querySelector("[data-tip]");
      mark.dispatchEvent(new MouseEvent("mouseover", {{ bubbles: true }}));
      out.push(section.id + ":" + (tip.style.display === "block" &&
                                   tip.textContent === mark.getAttribute("data-tip")
                                   ? "hover" : "nohover"));
    }});
    document.body.setAttribute("data-selftest", out.join(" "));
  }}
}})();
</script>
</body></html>
"""
