"""`pgc check FILE...`: parse, lower and check specs without the model (never imports torch)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "check specs: syntax, names, units, coverage, routes, policies (fast; no model, no torch)"
EXAMPLES = "  pgc check examples/chain4.pgc\n  pgc check examples/          # every .pgc under it\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="spec or topology files (a directory: every .pgc in it)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when a file is fine")


def spec_files(paths: list[str]) -> list[str]:
    """The arguments, with each directory replaced by the .pgc files under it (sorted)."""
    out: list[str] = []
    for p in paths:
        if Path(p).is_dir():
            found = sorted(str(f) for f in Path(p).rglob("*.pgc"))
            if not found:  # checking nothing must not look like a pass
                from pgc.diagnostics import error
                from pgc.ir.types import Span

                raise error(Span(p, 0, 0, 0, 0), f"directory `{p}` holds no .pgc files")
            out += found
        else:
            out.append(p)
    return out


def run(args: argparse.Namespace) -> int:
    from pgc.diagnostics import UserError
    from pgc.frontend import check_file

    code = 0
    for file in spec_files(args.files):
        try:
            summary = check_file(file)
        except UserError as exc:
            print(exc.render(), file=sys.stderr)
            code = 2
            continue
        if not args.quiet:
            print(summary)
    return code
