"""`pgc viz FILE --what graph|paths|timeline|report -o OUT`: pictures of the plan."""

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
formats by suffix: .svg .png .pdf .dot .html (graphviz's `dot` makes svg, png and pdf)"""

# The passes each view needs: graph and paths only need routing, pictures of time need the
# simulated plan.
_UNTIL = {"graph": "routed", "paths": "routed", "timeline": "simulated", "report": "simulated"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from pgc.viz import WHATS

    p.add_argument("file", type=Path, help="the .pgc spec")
    p.add_argument("--what", choices=WHATS, default="graph", help="which picture (default graph)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output file; suffix = format")
    p.add_argument("--measured", type=Path, default=None, metavar="DIR",
                   help="report only: Chrome traces written by train.py --trace DIR")


def run(args: argparse.Namespace) -> int:
    from pgc.frontend import load_program
    from pgc.pipeline import run_passes
    from pgc.viz import check_output, render
    from pgc.viz.output import INSTALL_HINT, dot_binary

    check_output(args.what, args.out, args.measured)
    program = run_passes(load_program(args.file), until=_UNTIL[args.what])
    if args.out.parent and not args.out.parent.exists():
        args.out.parent.mkdir(parents=True)
    baselines = _baselines(program) if args.what == "report" else []
    for path in render(program, args.what, args.out, args.measured, baselines):
        print(f"wrote {path}")
    if args.what == "report" and dot_binary() is None:
        print(f"pgc: warning: graphviz's `dot` is not on PATH, so the report shows DOT source "
              f"instead of pictures; {INSTALL_HINT}", file=sys.stderr)
    return 0


def _baselines(program: Program) -> list[tuple[str, float]]:
    """gpipe and 1f1b re-planned on the drawn plan's own placement, exactly as `pgc plan`
    does (re-running `pgc plan` on the file could place differently: auto placement is a
    time-budgeted search). Schedules that cannot be planned for this spec are left out."""
    from pgc.diagnostics import UserError
    from pgc.planner.baselines import replan

    out: list[tuple[str, float]] = []
    for schedule in ("gpipe", "1f1b"):
        try:
            prediction = replan(program, schedule).prediction
        except UserError:
            continue
        if prediction is not None:
            out.append((schedule, prediction.iteration_time))
    return out
