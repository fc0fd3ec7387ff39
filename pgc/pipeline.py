"""The compiler pipeline: the ordered list of passes and the one driver that runs them.

    .pgc --parse--> AST --lower--> IR --traced--> --partitioned--> --placed--> --routed-->
    --ordered--> --verified--> --simulated--> (emit: train.py, plan.json)

Each pass lives in its own module and exports `PASS: pgc.ir.passes.Pass`. `run_passes` runs a
stretch of them and, unless told not to, checks the IR invariants (`pgc.ir.verify`) on its input
and after every pass: a broken invariant is a `VerifyError` naming the pass that broke it.
`pgc compile`, `pgc plan`, `pgc viz`, `pgc profile`, the planner's baselines, plan files read
back, the tests and the benches all run passes through it.
"""

from __future__ import annotations

import importlib
import sys
from typing import TextIO

from pgc.ir.passes import Pass
from pgc.ir.types import Program

# (emit name, module exporting PASS). Order is execution order.
PASS_MODULES: tuple[tuple[str, str], ...] = (
    ("traced", "pgc.capture.pass_capture"),
    ("partitioned", "pgc.passes.partition"),
    ("placed", "pgc.passes.place"),
    ("routed", "pgc.passes.route"),
    ("ordered", "pgc.sched.order"),
    ("verified", "pgc.passes.verify"),
    ("simulated", "pgc.sim.pass_simulate"),
)
PASS_NAMES = tuple(name for name, _ in PASS_MODULES)

FRONTEND_STAGES = ("ast", "ir")
EMIT_NAMES = FRONTEND_STAGES + PASS_NAMES


def load_pass(name: str) -> Pass:
    module = dict(PASS_MODULES)[name]
    p: Pass = importlib.import_module(module).PASS
    if p.name != name:
        raise RuntimeError(f"{module}.PASS is named {p.name!r}, expected {name!r}")
    return p


def passes_between(start: str | None = None, until: str | None = None) -> tuple[str, ...]:
    """The pass names from `start` through `until` (both inclusive; None: the first, the last)."""
    first = PASS_NAMES.index(start) if start else 0
    last = PASS_NAMES.index(until) if until else len(PASS_NAMES) - 1
    return PASS_NAMES[first : last + 1]


def run_passes(
    program: Program,
    until: str | None = None,
    *,
    start: str | None = None,
    verify: bool = True,
    print_between: bool = False,
    out: TextIO = sys.stdout,
) -> Program:
    """Run the passes from `start` through `until` (inclusive; default: all of them) on
    `program`, the IR before `start`. With `verify`, the IR invariants are checked on the input
    and after each pass (O(program size) each); `print_between` prints the IR after each pass."""
    from pgc.ir.printer import print_program
    from pgc.ir.verify import VerifyError, verify_program

    names = passes_between(start, until)
    before = PASS_NAMES[PASS_NAMES.index(names[0]) - 1] if names and names[0] != PASS_NAMES[0] else "ir"
    for name in (before, *names):
        if name != before:
            program = load_pass(name)(program)
        if verify:
            try:
                verify_program(program)
            except VerifyError as exc:
                raise VerifyError(exc.message, name) from None
        if print_between and name != before:
            out.write(f"// ----- after {name} -----\n{print_program(program)}\n")
    return program
