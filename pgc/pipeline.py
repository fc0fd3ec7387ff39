"""The compiler pipeline: the ordered list of passes and the driver that runs them.

    .pgc --parse--> AST --lower--> IR --traced--> --partitioned--> --placed--> --routed-->
    --ordered--> --verified--> --simulated--> (emit: train.py, plan.json)

Each pass lives in its own module and exports `PASS: pgc.passes.base.Pass`. In debug mode the
IR verifier runs after every pass; `print_between` prints the IR after every pass.
"""

from __future__ import annotations

import importlib
import sys
from typing import TextIO

from pgc.ir.types import Program
from pgc.passes.base import Pass

# (emit name, module exporting PASS). Order is execution order.
PASS_MODULES: tuple[tuple[str, str], ...] = (
    ("traced", "pgc.capture.pass_capture"),
    ("partitioned", "pgc.passes.partition"),
    ("placed", "pgc.passes.place"),
    ("routed", "pgc.passes.route"),
    ("ordered", "pgc.passes.order"),
    ("verified", "pgc.passes.verify"),
    ("simulated", "pgc.sim.pass_simulate"),
)

FRONTEND_STAGES = ("ast", "ir")
EMIT_NAMES = FRONTEND_STAGES + tuple(name for name, _ in PASS_MODULES)


def load_pass(name: str) -> Pass:
    module = dict(PASS_MODULES)[name]
    p: Pass = importlib.import_module(module).PASS
    assert p.name == name, f"{module}.PASS is named {p.name!r}, expected {name!r}"
    return p


def run_passes(
    program: Program,
    until: str | None = None,
    *,
    debug: bool = False,
    print_between: bool = False,
    out: TextIO = sys.stdout,
) -> Program:
    """Run the passes in order, stopping after `until` (inclusive) when given."""
    from pgc.ir.printer import print_program
    from pgc.ir.verify import verify_program

    done: list[str] = []
    for name, _ in PASS_MODULES:
        p = load_pass(name)
        try:
            program = p(program)
            if debug:
                verify_program(program)
        except AssertionError as exc:
            raise AssertionError(
                f"pass `{name}` broke an IR invariant (after {', '.join(done) or 'lowering'}): {exc}"
            ) from exc
        done.append(name)
        if print_between:
            out.write(f"// ----- after {name} -----\n{print_program(program)}\n")
        if name == until:
            break
    return program
