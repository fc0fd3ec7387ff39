"""The wheel ships the grammar and `pgc check` runs from it in a fresh venv (slow: builds a
wheel and installs lark from the package index); and `pgc check` never imports torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import ROOT, pgc_env


@pytest.mark.slow
def test_wheel_installs_and_checks_in_a_fresh_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], check=True, capture_output=True, timeout=600)
    (wheel,) = dist.glob("pgc-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)  # no system site packages: a missing file cannot hide
    py = env_dir / "bin" / "python"
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "--no-deps", str(wheel)], check=True, timeout=300)
    subprocess.run([*pip, "lark"], check=True, timeout=300)
    work = tmp_path / "work"  # outside the checkout, so only the installed package is importable
    shutil.copytree(ROOT / "examples", work / "examples", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    clean = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run(
        [str(py), "-c", "from pgc.frontend.parser import grammar_path; print(grammar_path())"],
        cwd=work, env=clean, capture_output=True, text=True, check=True,
    )
    assert where.stdout.strip().startswith(str(env_dir)) and where.stdout.strip().endswith("pgc/grammar/pgc.lark")
    specs = sorted(str(p.relative_to(work)) for p in (work / "examples").rglob("*.pgc"))
    r = subprocess.run([str(env_dir / "bin" / "pgc"), "check", *specs], cwd=work, env=clean, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(": ok:") == len(specs)
    bad = work / "bad.pgc"
    bad.write_text("pipeline p {\n  inflight 3\n}\n")
    r = subprocess.run([str(env_dir / "bin" / "pgc"), "check", "bad.pgc"], cwd=work, env=clean, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("bad.pgc:2:12: error: expected `=` or `{`")


def test_check_never_imports_torch() -> None:
    """`pgc check` stays fast and needs only lark: no torch, numpy or scipy."""
    code = (
        "import sys\n"
        "from pgc.cli import main\n"
        "rc = main(['check', '-q', 'examples/skippipe_ring.pgc', 'examples/chain4.pgc'])\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'scipy') if m in sys.modules)\n"
        "print(heavy)\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=pgc_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout  # no torch, and none of the heavy libraries either
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "pgc", "check", "examples/chain4.pgc"], cwd=ROOT, env=pgc_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    assert "lark" in imported and not any(m == "torch" or m.startswith("torch.") for m in imported)
