"""`pgc` command line. Each subcommand lives in `pgc/commands/<name>.py` and exports
`HELP` (one line), `EXAMPLES` (text), `add_arguments(parser)` and `run(args) -> int`.

Subcommand modules are imported only when chosen, so `pgc check` never imports torch.
Exit codes: 0 ok, 2 user error (diagnostics printed), 1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType

COMMANDS: tuple[tuple[str, str], ...] = (
    ("check", "pgc.commands.check"),
    ("fmt", "pgc.commands.fmt"),
    ("compile", "pgc.commands.compile"),
    ("profile", "pgc.commands.profile"),
    ("plan", "pgc.commands.plan"),
    ("viz", "pgc.commands.viz"),
    ("export-model", "pgc.commands.export_model"),
    ("init-model", "pgc.commands.init_model"),
)


def _load(module: str) -> ModuleType:
    return importlib.import_module(module)


def build_parser() -> argparse.ArgumentParser:
    from pgc import __version__

    parser = argparse.ArgumentParser(
        prog="pgc",
        description="pgc: a declarative pipeline-graph compiler for LLM training.",
        epilog="examples:\n  pgc check examples/chain4.pgc\n  pgc compile examples/chain4.pgc -o out\n"
        "  torchrun --nproc-per-node 4 out/train.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pgc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        module = _load(module_name)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.HELP,
            epilog="examples:\n" + module.EXAMPLES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pgc.diagnostics import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args._module.run(args)
        return code
    except UserError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pgc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # an internal error: show the traceback, it is a pgc bug
        if isinstance(exc, OSError) and exc.filename is not None:
            # unless it is a path the user named (an output, a profile) the system refused
            print(f"pgc: error: cannot use `{exc.filename}`: {exc.strerror}", file=sys.stderr)
            return 2
        import traceback

        traceback.print_exc()
        print("pgc: internal error (this is a bug in pgc, please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
