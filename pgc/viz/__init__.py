"""Pictures of a plan: the pipeline graph, the microbatch paths, the simulated timeline (also as
Chrome trace JSON) and a self-contained HTML report (docs/design.md §7, `pgc viz`).

Entry point: `render(program, what, out, measured=None) -> list[Path]` with `what` one of
`WHATS`; the output format follows `out`'s suffix (.svg .png .pdf .dot .html, and .json for the
timeline's trace alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from pgc.diagnostics import Diagnostic, UserError
from pgc.ir.types import NO_SPAN, Program

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
    from pgc.viz.graph import pipeline_graph
    from pgc.viz.output import write_picture
    from pgc.viz.paths import paths_graph

    check_output(what, out, measured)
    if what == "report":
        return [_write_report(program, out, measured, baselines)]
    if what == "timeline":
        return _write_timeline(program, out)
    if what == "view":
        from pgc.viz.view import view_html

        out.write_text(view_html(program), encoding="utf-8")
        return [out]
    dot = pipeline_graph(program).source if what == "graph" else paths_graph(program).source
    return [write_picture(dot, out, f"{program.name}: {what}")]


def render_all(program: Program, folder: Path, fmt: str = "svg",
               baselines: Sequence[tuple[str, float]] = (),
               measured: Path | None = None) -> list[Path]:
    """Every view of one simulated program into `folder`: graph, paths and timeline as `fmt`
    (+ the timeline's Chrome trace), report.html (with `measured` traces when given) and the
    interactive view.html. Without
    graphviz the pictures fall back to .dot and the first DotMissing is raised at the end,
    after every other view is written."""
    from pgc.viz.output import DotMissing

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    missing: DotMissing | None = None
    for what in ("graph", "paths", "timeline"):
        try:
            written += render(program, what, folder / f"{what}.{fmt}")
        except DotMissing as exc:
            missing = missing or exc
    written += render(program, "report", folder / "report.html", measured, baselines)
    written += render(program, "view", folder / "view.html")
    if missing is not None:
        raise missing
    return written


def _write_timeline(program: Program, out: Path) -> list[Path]:
    from pgc.viz.output import write_picture
    from pgc.viz.predicted import predicted_timeline
    from pgc.viz.timeline import timeline_dot
    from pgc.viz.trace import write_trace

    tl = predicted_timeline(program)
    if out.suffix.lower() == ".json":
        return [write_trace(tl, out)]
    # The trace goes first, so it exists even when graphviz is missing for the picture.
    trace = write_trace(tl, out.with_suffix(".trace.json"))
    return [write_picture(timeline_dot(tl), out, tl.title), trace]


def _write_report(
    program: Program, out: Path, measured: Path | None, baselines: Sequence[tuple[str, float]]
) -> Path:
    from pgc.viz.graph import pipeline_graph
    from pgc.viz.measured import read_measured
    from pgc.viz.paths import paths_graph
    from pgc.viz.predicted import predicted_timeline
    from pgc.viz.report import Picture, report_html
    from pgc.viz.timeline import Timeline, timeline_dot

    tl = predicted_timeline(program)
    pictures = [
        Picture("pipeline graph", pipeline_graph(program).source),
        Picture("microbatch paths", paths_graph(program).source),
        Picture("predicted timeline", timeline_dot(tl)),
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
    from pgc.sim import lower_bound

    bound = lower_bound(program).components
    text = report_html(program, pictures, baselines=baselines, bound=bound, predicted=tl,
                       measured=bars, measured_pic=measured_pic)
    out.write_text(text, encoding="utf-8")
    return out
