"""`pgc compile FILE -o DIR`: run the whole pipeline and write train.py and plan.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pgc.diagnostics import Diagnostic, UserError, register_source
from pgc.ir.types import NO_SPAN, Span

if TYPE_CHECKING:
    from pgc.ir.types import Program


def _fail(message: str) -> UserError:
    return UserError(Diagnostic(NO_SPAN, message))

HELP = "compile a spec into a standalone torchrun training script (train.py + plan.json)"
EXAMPLES = """\
  pgc compile examples/chain4.pgc -o out          # writes out/train.py, out/plan.json
  pgc compile examples/chain4.pgc --emit=ordered  # print the IR after the `ordered` pass
  pgc compile spec.pgc --print-between-passes -o out
  pgc compile examples/chain4.pgc --emit=routed > routed.ir
  pgc compile --from-ir routed.ir -o out          # continue from the IR after `routed`
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from pgc.pipeline import EMIT_NAMES

    p.add_argument("file", nargs="?", help="the .pgc spec")
    p.add_argument("--from-ir", metavar="IR_FILE",
                   help="start from IR text (`--emit=PASS` output) instead of a spec: the passes "
                   "after the one its `// ----- after PASS -----` head names run on it")
    p.add_argument("-o", "--out", help="output directory (default: build/<pipeline name>)")
    p.add_argument(
        "--emit",
        choices=EMIT_NAMES,
        metavar="PASS",
        help=f"print the IR after this pass and stop ({', '.join(EMIT_NAMES)})",
    )
    p.add_argument("--print-between-passes", action="store_true", help="print the IR after each pass")


def run(args: argparse.Namespace) -> int:
    from pgc.ir.printer import print_program
    from pgc.pipeline import PASS_NAMES, run_passes

    if (args.file is None) == (args.from_ir is None):
        raise _fail("give a spec file or `--from-ir IR_FILE`, not both and not neither")
    if args.emit == "ast":
        from pgc.frontend import parse_file

        if args.file is None:
            raise _fail("`--emit=ast` needs a spec file, not `--from-ir`")
        print(_ast_text(parse_file(args.file)))
        return 0
    program, after = _start(args)
    if args.print_between_passes and after == "ir":
        sys.stdout.write(f"// ----- after ir -----\n{print_program(program)}\n")
    names = ("ir", *PASS_NAMES)
    if args.emit and names.index(args.emit) < names.index(after):
        raise _fail(f"`--emit={args.emit}` comes before `{after}`, where `{args.from_ir}` starts")
    if after != "simulated" and args.emit != after:
        program = run_passes(program, until=args.emit, start=names[names.index(after) + 1],
                             print_between=args.print_between_passes)
    if args.emit:
        if not args.print_between_passes or args.emit == after:
            print(f"// ----- after {args.emit} -----\n{print_program(program)}")
        return 0
    from pgc.codegen import emit, launch_command
    from pgc.codegen.emit import init_decision, init_line, placed_only

    declared = len(program.workers)
    program = placed_only(program)
    out = Path(args.out) if args.out else Path("build") / program.name
    written = emit(program, out)
    for path in written:
        print(f"wrote {path}")
    print(init_line(init_decision(program)))
    if declared > len(program.workers):
        print(f"{declared - len(program.workers)} declared nodes hold no stage and get no "
              f"process; {len(program.workers)} workers run the plan")
    print("run it with:")
    print("  " + launch_command(program, str(out / "train.py")).replace("\n", "\n  "))
    return 0


def _start(args: argparse.Namespace) -> tuple[Program, str]:
    """The Program to start from and the pass it comes after ("ir": just lowered)."""
    if args.file is not None:
        from pgc.frontend import load_program

        return load_program(args.file), "ir"
    from pgc.ir.reader import IRSyntaxError, pass_of, read_program
    from pgc.ir.verify import VerifyError, verify_program
    from pgc.pipeline import EMIT_NAMES

    path = Path(args.from_ir)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read `{path}`: {exc}") from None
    after = pass_of(text)
    if after not in EMIT_NAMES or after == "ast":
        raise _fail(f"{path}: the head names `{after}`, not a pass ({', '.join(EMIT_NAMES[1:])})")
    try:
        program = read_program(text)
        verify_program(program)
    except IRSyntaxError as exc:
        register_source(str(path), text)
        line = text.splitlines()[exc.line - 1] if 0 < exc.line <= len(text.splitlines()) else ""
        col = len(line) - len(line.lstrip()) + 1
        span = Span(str(path), exc.line, col, exc.line, col) if exc.line else NO_SPAN
        raise UserError(Diagnostic(span, f"not pgc IR text: {exc.message}" if exc.line else
                                   f"{path}: not pgc IR text: {exc.message}")) from None
    except VerifyError as exc:
        raise UserError(Diagnostic(NO_SPAN, f"{path}: the IR breaks an invariant: {exc}")) from None
    return program, after


def _ast_text(tree: object) -> str:
    """The frontend's own rendering of the AST when it has one, else its repr."""
    pretty = getattr(tree, "pretty", None)
    return str(pretty()) if callable(pretty) else repr(tree)

