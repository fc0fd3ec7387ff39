"""The one text-table layout pgc prints (stage tables, `pgc plan`, train.py's summary)."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def text_table(rows: Sequence[Sequence[str]], right: Collection[int] = (),
               rule: bool = False) -> list[str]:
    """`rows` (the header first) as lines: columns two spaces apart, each as wide as its widest
    cell, left-aligned except the column indices in `right`; `rule` puts a line of dashes
    under the header. No line ends in a space."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    if rule:
        rows = [rows[0], ["-" * w for w in widths], *rows[1:]]

    def cell(i: int, c: str) -> str:
        return c.rjust(widths[i]) if i in right else c.ljust(widths[i])

    return ["  ".join(cell(i, c) for i, c in enumerate(r)).rstrip() for r in rows]
