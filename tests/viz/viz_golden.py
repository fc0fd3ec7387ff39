"""Golden files for viz tests: `PGC_ACCEPT=1 pytest tests/viz` rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "viz"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PGC_ACCEPT") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if os.environ.get("PGC_ACCEPT") != "1":
            raise AssertionError(f"new golden file {path} written; review it and rerun")
        return
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (PGC_ACCEPT=1 to accept)"
