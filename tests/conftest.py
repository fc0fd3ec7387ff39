"""Test set-up: make the checkout importable without installing it, and share helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Property tests draw the same examples on every run by default, so a test run (and CI) is
# reproducible; `PGC_HYPOTHESIS=explore` draws fresh ones (and more) to hunt for new bugs.
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", max_examples=1000)
settings.load_profile("explore" if os.environ.get("PGC_HYPOTHESIS") == "explore" else "ci")


def pgc_env() -> dict[str, str]:
    """Environment for subprocesses that run this checkout's pgc."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_pgc(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m pgc ARGS` as a user would, capturing output."""
    return subprocess.run(
        [sys.executable, "-m", "pgc", *args],
        cwd=cwd or ROOT,
        env=pgc_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_golden(path: Path, text: str) -> None:
    """Compare `text` with the golden file `path`; `PGC_ACCEPT=1` rewrites it instead."""
    if os.environ.get("PGC_ACCEPT") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden {path} (run with PGC_ACCEPT=1)"
    assert text == path.read_text(encoding="utf-8"), \
        f"{path.name} differs from its golden file (PGC_ACCEPT=1 to accept)"
