"""Pass infrastructure: a pass is a named, pure `Program -> Program` function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pgc.ir.types import Program


@dataclass(frozen=True)
class Pass:
    """`name` is kebab-case and is also the `--emit=` name of the IR after the pass."""

    name: str
    run: Callable[[Program], Program]
    requires: str
    ensures: str

    def __call__(self, program: Program) -> Program:
        return self.run(program)
