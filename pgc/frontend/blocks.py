"""Reading generic `{ ... }` blocks: known keys, duplicates, misplaced statements; and an error
collector so that one run reports every independent mistake."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import ParamSpec, TypeVar

from pgc.diagnostics import Diagnostic, UserError, did_you_mean, error
from pgc.frontend import ast

T = TypeVar("T")
P = ParamSpec("P")

_STATEMENT_WORDS = {
    ast.StagesStmt: "stages",
    ast.StageStmt: "stage",
    ast.ReplicasStmt: "replicas",
    ast.PlaceStmt: "place",
    ast.ScheduleStmt: "schedule",
    ast.PathStmt: "path",
}


class Collector:
    """Collects diagnostics from independent checks; `raise_if_any` ends the phase."""

    def __init__(self) -> None:
        self.diagnostics: list[Diagnostic] = []

    def add(self, exc: UserError) -> None:
        self.diagnostics.extend(exc.diagnostics)

    def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """`fn(*args, **kwargs)`, or None after recording its UserError."""
        try:
            return fn(*args, **kwargs)
        except UserError as exc:
            self.add(exc)
            return None

    def raise_if_any(self) -> None:
        if self.diagnostics:
            seen: set[tuple[str, int, int, str]] = set()
            unique = []
            for d in self.diagnostics:
                key = (d.span.file, d.span.line, d.span.col, d.message)
                if key not in seen:
                    seen.add(key)
                    unique.append(d)
            unique.sort(key=lambda d: (d.span.file, d.span.line, d.span.col))
            raise UserError(*unique)


Setting = ast.Assign | ast.Nested


def settings(
    items: tuple[ast.Item, ...],
    where: str,
    keys: Collection[str],
    blocks: Collection[str] = (),
    *,
    errors: Collector,
) -> dict[str, Setting]:
    """The `key = value` and `name { }` items of a block, by key. Unknown keys, repeated keys
    and pipeline statements outside a pipeline are reported to `errors` and skipped."""
    found: dict[str, Setting] = {}
    for item in items:
        if isinstance(item, ast.Assign | ast.Nested):
            key = item.key if isinstance(item, ast.Assign) else item.name
            allowed = keys if isinstance(item, ast.Assign) else blocks
            if key not in allowed:
                errors.add(_unknown(item, key, where, keys, blocks))
            elif key in found:
                errors.add(
                    UserError(
                        Diagnostic(
                            item.span,
                            f"`{key}` is set twice in {where}",
                            notes=((found[key].span, "first set here"),),
                        )
                    )
                )
            else:
                found[key] = item
        else:
            word = _STATEMENT_WORDS[type(item)]
            errors.add(error(item.span, f"`{word}` is only allowed directly inside a pipeline, not in {where}"))
    return found


def _unknown(item: Setting, key: str, where: str, keys: Collection[str], blocks: Collection[str]) -> UserError:
    if isinstance(item, ast.Assign) and key in blocks:
        return error(item.span, f"`{key}` is a block in {where}", hint=f"write `{key} {{ ... }}`")
    if isinstance(item, ast.Nested) and key in keys:
        return error(item.span, f"`{key}` is a setting in {where}, not a block", hint=f"write `{key} = ...`")
    kind = "setting" if isinstance(item, ast.Assign) else "block"
    known = sorted(keys if isinstance(item, ast.Assign) else blocks)
    hint = did_you_mean(key, known) or (f"known: {', '.join(known)}" if known else None)
    return error(item.span, f"unknown {kind} `{key}` in {where}", hint=hint)


def value(found: dict[str, Setting], key: str) -> ast.Value | None:
    item = found.get(key)
    return item.value if isinstance(item, ast.Assign) else None


def block(found: dict[str, Setting], key: str) -> ast.Nested | None:
    item = found.get(key)
    return item if isinstance(item, ast.Nested) else None
