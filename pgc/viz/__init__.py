"""Pictures of a plan: the pipeline graph, the microbatch paths, the simulated timeline (also as
Chrome trace JSON) and a self-contained HTML report (docs/design.md §7, `pgc viz`).

Entry point: `render(program, what, out, measured=None) -> list[Path]` with `what` one of
`WHATS`; the output format follows `out`'s suffix (.svg .png .pdf .dot .html, and .json for the
timeline's trace alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from pgc.diagnostics import Diagnostic, UserError
from pgc.ir.types import NO_SPAN, Program

if TYPE_CHECKING:  # imported when a view needs them, not by `pgc viz --help`
    from pgc.sim import Bound
    from pgc.viz.timeline import Timeline

WHATS = ("graph", "paths", "timeline", "report", "view")
PICTURE_SUFFIXES = (".svg", ".png", ".pdf", ".dot", ".html")


def _bad_output(out: Path, allowed: tuple[str, ...], what: str) -> UserError:
    return UserError(Diagnostic(
        NO_SPAN, f"cannot write the {what} as `{out.suffix or out.name}`",
        hint="use an output file ending in " + ", ".join(allowed),
    ))


def check_output(what: str, out: Path, measured: Path | None = None) -> None:
    """Raise UserError unless `what` can be written to `out` (checked before planning)."""
    if what not in WHATS:
        raise UserError(Diagnostic(NO_SPAN, f"unknown view `{what}`",
                                   hint="choose one of " + ", ".join(WHATS)))
    if measured is not None and what != "report":
        raise UserError(Diagnostic(NO_SPAN, "--measured only applies to --what report"))
    allowed = {"report": (".html",), "view": (".html",),
               "timeline": PICTURE_SUFFIXES + (".json",)}.get(
        what, PICTURE_SUFFIXES)
    if out.suffix.lower() not in allowed:
        raise _bad_output(out, allowed, what)


class Drawing:
    """What the views of one program share, each made once on first use: the simulated
    timeline with its lower bound, and the DOT text of the graph, paths and timeline pictures
    (`--what all` shows each of them twice: as its own file and inside the report)."""

    def __init__(self, program: Program) -> None:
        self.program = program

    @cached_property
    def bound(self) -> Bound:
        from pgc.sim import lower_bound

        return lower_bound(self.program)

    @cached_property
    def timeline(self) -> Timeline:
        from pgc.viz.predicted import predicted_timeline

        return predicted_timeline(self.program, self.bound)

    @cached_property
    def graph_dot(self) -> str:
        from pgc.viz.graph import pipeline_graph

        return pipeline_graph(self.program).source

    @cached_property
    def paths_dot(self) -> str:
        from pgc.viz.paths import paths_graph

        return paths_graph(self.program).source

    @cached_property
    def timeline_dot(self) -> str:
        from pgc.viz.timeline import timeline_dot

        return timeline_dot(self.timeline)


def render(
    program: Program,
    what: str,
    out: Path,
    measured: Path | None = None,
    baselines: Sequence[tuple[str, float]] = (),
) -> list[Path]:
    """Write the picture `what` of a routed (and, for timeline/report, ordered) program to
    `out`; return the files written. The report lists `baselines` ((schedule, iteration
    seconds)) and, given `measured` (a directory of traces), compares them with the prediction.
    Raises UserError for an unknown view or suffix, or DotMissing (a UserError) after writing
    the .dot when graphviz is needed but absent."""
    return _render(Drawing(program), what, out, measured, baselines)


def _render(drawing: Drawing, what: str, out: Path, measured: Path | None = None,
            baselines: Sequence[tuple[str, float]] = ()) -> list[Path]:
    from pgc.viz.output import write_picture

    check_output(what, out, measured)
    if what == "report":
        return [_write_report(drawing, out, measured, baselines)]
    if what == "timeline":
        return _write_timeline(drawing, out)
    if what == "view":
        from pgc.viz.view import view_html

        out.write_text(view_html(drawing.program, drawing.timeline), encoding="utf-8")
        return [out]
    dot = drawing.graph_dot if what == "graph" else drawing.paths_dot
    return [write_picture(dot, out, f"{drawing.program.name}: {what}")]


def render_all(program: Program, folder: Path, fmt: str = "svg",
               baselines: Sequence[tuple[str, float]] = (),
               measured: Path | None = None) -> list[Path]:
    """Every view of one simulated program into `folder`: graph, paths and timeline as `fmt`
    (+ the timeline's Chrome trace), report.html (with `measured` traces when given) and the
    interactive view.html, sharing one `Drawing`. Without
    graphviz the pictures fall back to .dot and the first DotMissing is raised at the end,
    after every other view is written."""
    from pgc.viz.output import DotMissing

    folder.mkdir(parents=True, exist_ok=True)
    drawing = Drawing(program)
    written: list[Path] = []
    missing: DotMissing | None = None
    for what in ("graph", "paths", "timeline"):
        try:
            written += _render(drawing, what, folder / f"{what}.{fmt}")
        except DotMissing as exc:
            missing = missing or exc
    written += _render(drawing, "report", folder / "report.html", measured, baselines)
    written += _render(drawing, "view", folder / "view.html")
    if missing is not None:
        raise missing
    return written


def _write_timeline(drawing: Drawing, out: Path) -> list[Path]:
    from pgc.viz.output import write_picture
    from pgc.viz.trace import write_trace

    tl = drawing.timeline
    if out.suffix.lower() == ".json":
        return [write_trace(tl, out)]
    # The trace goes first, so it exists even when graphviz is missing for the picture.
    trace = write_trace(tl, out.with_suffix(".trace.json"))
    return [write_picture(drawing.timeline_dot, out, tl.title), trace]


def _write_report(
    drawing: Drawing, out: Path, measured: Path | None, baselines: Sequence[tuple[str, float]]
) -> Path:
    from pgc.viz.measured import read_measured
    from pgc.viz.report import Picture, report_html
    from pgc.viz.timeline import Timeline, timeline_dot

    program, tl = drawing.program, drawing.timeline
    pictures = [
        Picture("pipeline graph", drawing.graph_dot),
        Picture("microbatch paths", drawing.paths_dot),
        Picture("predicted timeline", drawing.timeline_dot),
    ]
    bars = read_measured(measured) if measured is not None else None
    measured_pic = None
    if bars is not None:
        # Traces name actions, not origins: colour measured bars like the predicted ones.
        origin_of = {p.mb: p.origin for p in program.paths}
        bars = [replace(b, origin=origin_of.get(b.mb, "")) for b in bars]
        end = max(b.end for b in bars)
        mtl = Timeline(f"{program.name}: measured", tl.workers, tuple(bars), end,
                       origins=tl.origins)
        measured_pic = Picture("measured timeline", timeline_dot(mtl))
    text = report_html(program, pictures, baselines=baselines, bound=drawing.bound.components,
                       predicted=tl, measured=bars, measured_pic=measured_pic)
    out.write_text(text, encoding="utf-8")
    return out
