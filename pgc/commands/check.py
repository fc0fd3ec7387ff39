"""`pgc check FILE...`: parse, lower and check specs without the model (never imports torch)."""

from __future__ import annotations

import argparse
import sys

HELP = "check specs: syntax, names, units, coverage, routes, policies (fast; no model, no torch)"
EXAMPLES = "  pgc check examples/chain4.pgc\n  pgc check examples/*.pgc examples/topologies/*.pgc\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="spec or topology files")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when a file is fine")


def run(args: argparse.Namespace) -> int:
    from pgc.diagnostics import UserError
    from pgc.frontend import check_file

    code = 0
    for file in args.files:
        try:
            summary = check_file(file)
        except UserError as exc:
            print(exc.render(), file=sys.stderr)
            code = 2
            continue
        if not args.quiet:
            print(summary)
    return code
