"""`pgc compile FILE -o DIR`: run the whole pipeline and write train.py and plan.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compile a spec into a standalone torchrun training script (train.py + plan.json)"
EXAMPLES = """\
  pgc compile examples/chain4.pgc -o out          # writes out/train.py, out/plan.json
  pgc compile examples/chain4.pgc --emit=ordered  # print the IR after the `ordered` pass
  pgc compile spec.pgc --print-between-passes --debug -o out
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from pgc.pipeline import EMIT_NAMES

    p.add_argument("file", help="the .pgc spec")
    p.add_argument("-o", "--out", help="output directory (default: build/<pipeline name>)")
    p.add_argument(
        "--emit",
        choices=EMIT_NAMES,
        metavar="PASS",
        help=f"print the IR after this pass and stop ({', '.join(EMIT_NAMES)})",
    )
    p.add_argument("--print-between-passes", action="store_true", help="print the IR after each pass")
    p.add_argument("--debug", action="store_true", help="verify the IR after every pass")


def run(args: argparse.Namespace) -> int:
    from pgc.frontend import load_program
    from pgc.ir.printer import print_program
    from pgc.pipeline import run_passes

    if args.emit == "ast":
        from pgc.frontend import parse_file

        print(_ast_text(parse_file(args.file)))
        return 0
    program = load_program(args.file)
    if args.print_between_passes:
        sys.stdout.write(f"// ----- after ir -----\n{print_program(program)}\n")
    if args.emit == "ir":
        print(print_program(program))
        return 0
    program = run_passes(
        program, until=args.emit, debug=args.debug, print_between=args.print_between_passes
    )
    if args.emit:
        if not args.print_between_passes:
            print(print_program(program))
        return 0
    from pgc.codegen import emit, launch_command
    from pgc.codegen.emit import init_decision, init_line

    out = Path(args.out) if args.out else Path("build") / program.name
    written = emit(program, out)
    for path in written:
        print(f"wrote {path}")
    print(init_line(init_decision(program)))
    print("run it with:")
    print("  " + launch_command(program, str(out / "train.py")).replace("\n", "\n  "))
    return 0


def _ast_text(tree: object) -> str:
    """The frontend's own rendering of the AST when it has one, else its repr."""
    pretty = getattr(tree, "pretty", None)
    return str(pretty()) if callable(pretty) else repr(tree)

