"""Golden files for viz tests: `PGC_ACCEPT=1 pytest tests/viz` rewrites them."""

from __future__ import annotations

from pathlib import Path

from conftest import check_golden as golden

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "viz"


def check_golden(name: str, text: str) -> None:
    golden(GOLDEN / name, text)
