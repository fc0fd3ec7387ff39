"""Seed specs for the fuzzer: every shipped example and test spec (for `pgc check`), and small
synthetic-cost specs that plan without building a model (for `pgc plan`). Each is copied into
a scratch folder with the files it imports, so mutants never touch the repository."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from tests.fuzz.mutator import Seed, seeds_from

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "planner"))

from scale_specs import ring_spec  # noqa: E402


def check_seeds(scratch: Path) -> list[Seed]:
    files = sorted(ROOT.glob("examples/**/*.pgc")) + sorted(ROOT.glob("tests/*/specs/*.pgc"))
    copies = []
    for f in files:
        dest = scratch / f.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
        copies.append(dest)
    return seeds_from(copies)


def plan_seeds(scratch: Path) -> list[Seed]:
    chain = (ring_spec(7, stages=5, per_origin=1, skip="0", swap=0)
             .replace("schedule skippipe", "schedule 1f1b")
             .replace("  skip { ratio = 0; never = [origin] }\n", "")
             .replace("  swap { max = 0 }\n", ""))
    texts = {"ring_explicit": ring_spec(7, stages=5, per_origin=1),
             "ring_auto": ring_spec(8, stages=3, auto=True, per_origin=1, skip="1/3"),
             "ring_1f1b": chain}
    return [Seed(name, text, scratch) for name, text in texts.items()]
