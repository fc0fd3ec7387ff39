"""Actions, the unit of a worker's program, and their text form: one action per line, round-trips.

This module is the one definition of the action text form: the compiler writes it into
plan.json and the runtime parses it back (standard library only, like the whole runtime).

    F s2 m5            forward of segment s2 for microbatch 5
    B origin.epi m5    backward of segment origin.epi for microbatch 5
    SEND_F m5 ->n7     send microbatch 5's activation to worker n7
    RECV_F m5 <-n3     receive microbatch 5's activation from worker n3
    SEND_B m5 ->n3     send microbatch 5's input gradient to worker n3
    RECV_B m5 <-n7     receive microbatch 5's output gradient from worker n7
    ALLREDUCE s2       sum gradients over a replica group (stage) or shared group (parameter)
    STEP               optimizer step

Fields are separated by single spaces; `format_action(parse_action(t)) == t` for every valid
`t`, and `parse_action(format_action(a)) == a` for every well-formed action `a`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

ActionKind = Literal["F", "B", "SEND_F", "RECV_F", "SEND_B", "RECV_B", "ALLREDUCE", "STEP"]


@dataclass(frozen=True)
class Action:
    """One step of a worker's program (text forms above)."""

    kind: ActionKind
    segment: str = ""  # F, B, ALLREDUCE (stage or shared-group name for ALLREDUCE)
    mb: int = -1  # F, B, SEND_*, RECV_*
    peer: str = ""  # SEND_*, RECV_* (worker name)

    def __str__(self) -> str:  # the text form, so IR dumps print `F s2 m5`
        return format_action(self)


_NAME = r"[A-Za-z_][A-Za-z0-9_.\-]*"
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("compute", re.compile(rf"(F|B) ({_NAME}) m(0|[1-9][0-9]*)")),
    ("send", re.compile(rf"(SEND_F|SEND_B) m(0|[1-9][0-9]*) ->({_NAME})")),
    ("recv", re.compile(rf"(RECV_F|RECV_B) m(0|[1-9][0-9]*) <-({_NAME})")),
    ("allreduce", re.compile(rf"(ALLREDUCE) ({_NAME})")),
    ("step", re.compile(r"(STEP)")),
)


class ActionSyntaxError(ValueError):
    """A line that is not an action in the text form."""


def format_action(a: Action) -> str:
    """The one-line text form of `a`."""
    if a.kind in ("F", "B"):
        return f"{a.kind} {a.segment} m{a.mb}"
    if a.kind.startswith("SEND"):
        return f"{a.kind} m{a.mb} ->{a.peer}"
    if a.kind.startswith("RECV"):
        return f"{a.kind} m{a.mb} <-{a.peer}"
    if a.kind == "ALLREDUCE":
        return f"ALLREDUCE {a.segment}"
    return "STEP"


def parse_action(text: str) -> Action:
    """Parse one action; raises ActionSyntaxError naming the text when it is malformed."""
    for form, pattern in _PATTERNS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        if form == "compute":
            return Action(m[1], segment=m[2], mb=int(m[3]))  # type: ignore[arg-type]
        if form in ("send", "recv"):
            return Action(m[1], mb=int(m[2]), peer=m[3])  # type: ignore[arg-type]
        if form == "allreduce":
            return Action("ALLREDUCE", segment=m[2])
        return Action("STEP")
    raise ActionSyntaxError(
        f"not an action: {text!r} (expected e.g. `F s2 m5`, `SEND_F m5 ->n7`, "
        "`RECV_B m5 <-n7`, `ALLREDUCE s2`, `STEP`)"
    )


def parse_actions(lines: Iterable[str]) -> tuple[Action, ...]:
    return tuple(parse_action(line) for line in lines)
