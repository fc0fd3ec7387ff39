"""The report: one self-contained HTML page with the spec summary, the plan table (prediction,
baselines, bound), memory per worker, the paths, the three pictures inline, and, given measured
traces, predicted and measured timelines aligned by action id with their differences."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pgc.ir.queries import stages_held
from pgc.ir.types import Program
from pgc.viz.layout import skipped_stages
from pgc.viz.measured import Aligned, align
from pgc.viz.output import dot_binary, inline_svgs, page
from pgc.viz.style import fmt_bandwidth, fmt_bytes, fmt_rate, fmt_seconds
from pgc.viz.timeline import Bar, Timeline

ALIGN_ROWS = 2000  # the aligned table lists at most this many actions (largest differences first)


@dataclass(frozen=True)
class Picture:
    title: str
    dot: str


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int]) -> str:
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        ) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{th}</tr>{body}</table>"


def spec_summary(program: Program) -> str:
    regions: dict[str, int] = {}
    for w in program.workers:
        regions[w.region or "-"] = regions.get(w.region or "-", 0) + 1
    rows = [
        ("spec", f"{escape(program.file)} (sha256 {program.spec_hash[:12]})"),
        ("model", f"{escape(program.model.name)} = {escape(program.model.target)}"),
        ("layout / schedule", f"{program.layout} / {program.schedule}"),
        ("workers", f"{len(program.workers)} in {len(regions)} regions: "
         + ", ".join(f"{escape(r)} {n}" for r, n in regions.items())),
        ("microbatches", f"{program.microbatches} x {program.microbatch_size} samples x "
         f"{program.seq_len} tokens, inflight {program.inflight}"),
        ("skip / swap", f"ratio {program.skip.ratio[0]}/{program.skip.ratio[1]}, never "
         f"{escape(', '.join(program.skip.never) or '-')}; at most {program.swap.max_swaps} "
         "swaps per path"),
    ]
    summary = _table(("", ""), rows, set())
    stage_rows = [
        (escape(s.name), escape(", ".join(s.segments)),
         str(sum(program.segment(g).layers for g in s.segments)),
         escape(", ".join(program.replicas(s.name)) or "(unplaced)"))
        for s in program.stages
    ]
    stages = _table(("stage", "segments", "layers", "replica group"), stage_rows, {2})
    return summary + stages


def plan_table(
    program: Program,
    baselines: Sequence[tuple[str, float]] = (),
    bound: Sequence[tuple[str, float, str]] = (),
) -> str:
    """Prediction and its bound, then each baseline schedule's iteration time and how much
    slower than the plan it is; then the bound's components (name, seconds, where)."""
    p = program.prediction
    if p is None:
        return '<p class="note">no prediction (the plan was not simulated)</p>'
    rows = [
        (f"pgc {program.schedule}", fmt_seconds(p.pipeline_time), fmt_seconds(p.iteration_time),
         "1.00x"),
        ("lower bound", fmt_seconds(p.pipeline_lower_bound), fmt_seconds(p.lower_bound),
         f"gap {p.gap * 100:.1f}%"),
    ]
    rows += [
        (escape(name), "", fmt_seconds(t), f"{t / p.iteration_time:.2f}x" if p.iteration_time
         else "")
        for name, t in baselines
    ]
    table = _table(("schedule", "pipeline", "iteration", "vs plan"), rows, {1, 2, 3})
    if not bound:
        return table
    parts = [(escape(name), fmt_seconds(v), escape(where)) for name, v, where in bound]
    return table + "<h3>lower bound components</h3>" + _table(
        ("component", "seconds", "attained at"), parts, {1})


def memory_table(program: Program) -> str:
    p = program.prediction
    if p is None or not p.memory:
        return '<p class="note">no memory estimate</p>'
    held = stages_held(program)
    rows = []
    for worker, m in p.memory:
        cap = program.worker(worker).memory
        frac = m.total / cap if cap else 0.0
        bar = f'<span class="bar{" over" if frac > 1 else ""}" style="width:{min(frac, 1) * 120:.0f}px"></span>'
        rows.append((
            escape(worker), escape(", ".join(held.get(worker, ()))), fmt_bytes(m.weights),
            fmt_bytes(m.grads), fmt_bytes(m.optimizer), fmt_bytes(m.activations),
            fmt_bytes(m.total), fmt_bytes(cap), f"{frac * 100:.0f}% {bar}",
        ))
    head = ("worker", "stages", "weights", "grads", "optimizer", "activations", "total",
            "capacity", "used")
    return _table(head, rows, {2, 3, 4, 5, 6, 7})


def paths_table(program: Program) -> str:
    rows = [
        (str(p.mb), escape(p.origin),
         escape(" → ".join(f"{h.segment}@{h.worker}" for h in p.hops)),
         escape(", ".join(skipped_stages(program, p)) or "-"))
        for p in program.paths
    ]
    table = _table(("mb", "origin", "path", "skips"), rows, {0})
    return f"<details><summary>{len(rows)} paths</summary>{table}</details>"


def workers_table(program: Program) -> str:
    rows = [
        (escape(w.name), escape(w.region or "-"), escape(w.host or "-"), fmt_rate(w.rate),
         fmt_bytes(w.memory))
        for w in program.workers
    ]
    table = _table(("worker", "region", "host", "rate", "memory"), rows, {3, 4})
    return f"<details><summary>{len(rows)} workers</summary>{table}</details>"


def pictures_html(pictures: Sequence[Picture]) -> list[str]:
    """Each picture as inline SVG under its title; without graphviz, its DOT source."""
    if dot_binary() is None:
        return [f"<h3>{escape(p.title)}</h3><p class=\"note\">graphviz's <code>dot</code> was "
                f"not found, so here is the DOT source</p><pre>{escape(p.dot)}</pre>"
                for p in pictures]
    svgs = inline_svgs([p.dot for p in pictures])
    return [f'<h3>{escape(p.title)}</h3><div class="pic">{svg}</div>'
            for p, svg in zip(pictures, svgs)]


def measured_section(predicted: Timeline, measured: list[Bar], measured_pic: str) -> str:
    rows = align(predicted.bars, measured)
    both = [r for r in rows if r.predicted and r.measured]
    m_iter = max((b.end for b in measured), default=0.0)
    summary = _table(("", "predicted", "measured", "difference"), [
        ("iteration", fmt_seconds(predicted.iteration_time), fmt_seconds(m_iter),
         _signed(m_iter - predicted.iteration_time, predicted.iteration_time)),
        ("actions", str(len(predicted.bars)), str(len(measured)),
         f"{len(both)} matched, {sum(r.measured is None for r in rows)} only predicted, "
         f"{sum(r.predicted is None for r in rows)} only measured"),
    ], {1, 2})
    kinds = _kind_totals(both)
    return (
        f"<h2>Predicted vs measured</h2>{summary}{kinds}{measured_pic}"
        f"{_aligned_table(rows)}"
    )


def _signed(diff: float, base: float) -> str:
    if abs(diff) < 1e-9:  # float noise from re-basing clocks, not a difference
        return "0 s"
    cls = "late" if diff > 0 else "early"
    rel = f" ({diff / base * 100:+.0f}%)" if base else ""
    return f'<span class="{cls}">{"+" if diff > 0 else ""}{fmt_seconds(diff)}{rel}</span>'


def _kind_totals(rows: list[Aligned]) -> str:
    totals: dict[str, list[float]] = {}
    for r in rows:
        assert r.predicted is not None and r.measured is not None
        t = totals.setdefault(r.predicted.kind, [0.0, 0.0, 0.0])
        t[0] += 1
        t[1] += r.predicted.end - r.predicted.start
        t[2] += r.measured.end - r.measured.start
    table_rows = [
        (escape(k), str(int(n)), fmt_seconds(p), fmt_seconds(m), _signed(m - p, p))
        for k, (n, p, m) in sorted(totals.items())
    ]
    return _table(("kind", "actions", "predicted busy", "measured busy", "difference"),
                  table_rows, {1, 2, 3})


def _aligned_table(rows: list[Aligned]) -> str:
    def worst(r: Aligned) -> float:
        return -abs(r.start_diff) if r.start_diff is not None else float("-inf")

    shown = sorted(rows, key=worst)[:ALIGN_ROWS]
    body = [
        (escape(r.worker), escape(r.label),
         _span(r.predicted), _span(r.measured),
         _signed(r.start_diff, 0) if r.start_diff is not None else "-",
         _signed(r.duration_diff, 0) if r.duration_diff is not None else "-")
        for r in shown
    ]
    head = ("worker", "action", "predicted", "measured", "start diff", "duration diff")
    note = f" (the {ALIGN_ROWS} largest start differences)" if len(rows) > ALIGN_ROWS else ""
    return (f"<details open><summary>{len(rows)} actions aligned by id{note}</summary>"
            f"{_table(head, body, {2, 3, 4, 5})}</details>")


def _span(b: Bar | None) -> str:
    if b is None:
        return "-"
    return f"{fmt_seconds(b.start)} – {fmt_seconds(b.end)}"


def links_note(program: Program) -> str:
    """One line per link rule, so the report says what the network was assumed to be."""
    rows = [
        (link.scope,
         escape(f"{link.src} {'->' if link.directed else '<->'} {link.dst}".strip()),
         fmt_seconds(link.latency), fmt_bandwidth(link.bandwidth))
        for link in program.links
    ]
    return _table(("rule", "between", "latency", "bandwidth"), rows, {2, 3})


def report_html(
    program: Program,
    pictures: Sequence[Picture],
    *,
    baselines: Sequence[tuple[str, float]] = (),
    bound: Sequence[tuple[str, float, str]] = (),
    predicted: Timeline | None = None,
    measured: list[Bar] | None = None,
    measured_pic: Picture | None = None,
) -> str:
    section = ""
    if predicted is not None and measured is not None and measured_pic is not None:
        drawn = pictures_html([*pictures, measured_pic])
        section = measured_section(predicted, measured, drawn.pop())
    else:
        drawn = pictures_html(pictures)
    parts = [
        f"<h1>pgc plan: {escape(program.name)}</h1>",
        "<h2>Spec</h2>", spec_summary(program), workers_table(program),
        "<h3>links</h3>", links_note(program),
        "<h2>Plan</h2>", plan_table(program, baselines, bound),
        "<h2>Memory per worker</h2>", memory_table(program),
        "<h2>Paths</h2>", paths_table(program),
        "<h2>Pictures</h2>", *drawn, section,
    ]
    return page(f"pgc plan: {program.name}", "\n".join(parts))
