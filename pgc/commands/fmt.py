"""`pgc fmt [--check] FILE...`: rewrite specs in canonical form (comments kept, idempotent)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "format specs canonically (in place; --check only reports files that would change)"
EXAMPLES = "  pgc fmt examples/chain4.pgc\n  pgc fmt --check examples/*.pgc   # exit 1 if any would change\n  pgc fmt --diff spec.pgc\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="spec files (a directory: every .pgc in it)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not formatted")
    parser.add_argument("--diff", action="store_true", help="change nothing; print a unified diff")


def run(args: argparse.Namespace) -> int:
    import difflib

    from pgc.commands.check import spec_files
    from pgc.diagnostics import UserError
    from pgc.frontend import format_source
    from pgc.frontend.parser import read_source

    code = 0
    for file in spec_files(args.files):
        try:
            text = read_source(file)
            formatted = format_source(text, file)
        except UserError as exc:
            print(exc.render(), file=sys.stderr)
            code = 2
            continue
        if formatted == text:
            continue
        if args.check:
            print(f"{file}: would be reformatted")
            code = max(code, 1)
        elif args.diff:
            sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), formatted.splitlines(True), file, file))
            code = max(code, 1)
        else:
            Path(file).write_text(formatted, encoding="utf-8")
            print(f"{file}: reformatted")
    return code
