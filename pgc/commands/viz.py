"""`pgc viz SPEC|PLAN --what graph|paths|timeline|report|view|all -o OUT`: pictures of the plan.

From a spec it plans (the passes each view needs); from a compiled `plan.json`, or the folder
`pgc compile` wrote, it draws that plan without planning again (`pgc.plan_file`). `--what all`
writes every view of one plan into the folder `-o DIR`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pgc.ir.types import Program

HELP = "draw the plan: pipeline graph, microbatch paths, timeline (+ Chrome trace), HTML report"
EXAMPLES = """\
  pgc viz examples/skippipe_ring.pgc --what graph -o ring.svg
  pgc viz examples/skippipe_ring.pgc --what paths -o paths.png
  pgc viz examples/skippipe_ring.pgc --what timeline -o timeline.svg   # + timeline.trace.json
  pgc viz examples/skippipe_ring.pgc --what timeline -o trace.json     # Perfetto only
  pgc viz examples/skippipe_ring.pgc --what report -o report.html --measured run/trace
  pgc viz examples/skippipe_ring.pgc --what view -o view.html     # interactive, zoom and hover
  pgc compile examples/skippipe_ring.pgc -o build/ring
  pgc viz build/ring/plan.json --spec examples/skippipe_ring.pgc --what all -o pictures/
formats by suffix: .svg .png .pdf .dot .html (graphviz's `dot` makes svg, png and pdf)"""

# The passes each view needs: graph and paths only need routing, pictures of time need the
# simulated plan.
_UNTIL = {"graph": "routed", "paths": "routed", "timeline": "simulated", "report": "simulated",
          "view": "simulated", "all": "simulated"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from pgc.viz import WHATS

    p.add_argument("file", type=Path,
                   help="the .pgc spec, a compiled plan.json, or the folder holding it")
    p.add_argument("--what", choices=(*WHATS, "all"), default="graph",
                   help="which picture (default graph); all: every view into the folder -o DIR")
    p.add_argument("-o", "--out", type=Path, required=True,
                   help="output file, its suffix the format (with --what all: a folder)")
    p.add_argument("--format", default=None, choices=("svg", "png", "pdf", "dot"),
                   help="--what all only: format of the pictures (default svg)")
    p.add_argument("--measured", type=Path, default=None, metavar="DIR",
                   help="report (and all): Chrome traces written by train.py --trace DIR")
    p.add_argument("--spec", type=Path, default=None,
                   help="with a plan: the spec it was compiled from (required when drawing "
                   "imports the spec's model: a plan never chooses code)")


def run(args: argparse.Namespace) -> int:
    from pgc.viz import check_output, render, render_all
    from pgc.viz.output import INSTALL_HINT, dot_binary

    _check_flags(args)
    if args.what != "all":
        check_output(args.what, args.out, args.measured)
    program = load(args.file, _UNTIL[args.what], args.spec)
    if args.what == "all":
        written = render_all(program, args.out, args.format, _baselines(program), args.measured)
    else:
        if args.out.parent and not args.out.parent.exists():
            args.out.parent.mkdir(parents=True)
        baselines = _baselines(program) if args.what == "report" else []
        written = render(program, args.what, args.out, args.measured, baselines)
    for path in written:
        print(f"wrote {path}")
    if args.what in ("report", "all") and dot_binary() is None:
        print(f"pgc: warning: graphviz's `dot` is not on PATH, so the report shows DOT source "
              f"instead of pictures; {INSTALL_HINT}", file=sys.stderr)
    return 0


def _check_flags(args: argparse.Namespace) -> None:
    """Every flag acts where it is given, or the command says why it cannot."""
    from pgc.diagnostics import Diagnostic, UserError
    from pgc.ir.types import NO_SPAN
    from pgc.plan_file import is_plan

    def fail(message: str, hint: str) -> UserError:
        return UserError(Diagnostic(NO_SPAN, message, hint=hint))

    if args.what == "all" and args.out.suffix:
        raise fail(f"--what all writes a folder, not `{args.out}`", "give a folder: -o pictures/")
    if args.format is not None and args.what != "all":
        raise fail("--format only applies to --what all", f"the suffix of -o sets the format "
                   f"of one view: -o {args.what}.{args.format}")
    args.format = args.format or "svg"
    if args.spec is not None and not is_plan(args.file):
        raise fail("--spec only applies when drawing a compiled plan",
                   f"`{args.file}` is drawn from itself; pass plan.json or its folder")


def load(file: Path, until: str, spec: Path | None = None) -> Program:
    """The program to draw: a compiled plan read back, or the spec planned through `until`."""
    from pgc.plan_file import is_plan, program_from_plan

    if is_plan(file):
        return program_from_plan(file, spec)
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes

    return run_passes(load_program(str(file)), until=until)


def _baselines(program: Program) -> list[tuple[str, float]]:
    """gpipe and 1f1b re-planned on the drawn plan's own placement, as `pgc plan` does (no
    placement or routing search: placing the spec again could choose differently), each
    marked when it holds more microbatches on a worker than the spec's `inflight` allows.
    Schedules that cannot be planned for this spec are left out."""
    from pgc.baselines import Row, replan
    from pgc.diagnostics import UserError

    out: list[tuple[str, float]] = []
    for schedule in ("gpipe", "1f1b"):
        try:
            row = Row(schedule, replan(program, schedule), inflight_limit=program.inflight)
        except UserError:
            continue
        label = schedule if row.within_limit else (
            f"{schedule} (holds {row.peak_inflight}, over inflight = {program.inflight})")
        out.append((label, row.time("iteration")))
    return out
