"""`pgc viz` from a compiled plan against planning again, on SkipPipe's geo-20 example.

Side by side in one run, repeated (median of ROUNDS), CPU seconds of this process plus its
`dot` children (the figure that does not depend on what else the machine runs):
- plan: the spec lowered and planned through `simulated`, what `pgc viz SPEC` does before
  drawing (placement and routing searches included);
- load: the compiled plan.json read back (`pgc.plan_file.program_from_plan`: schema check,
  spec lowered and hash-checked, the plan's placement, paths and action lists put in,
  verified and simulated), what `pgc viz PLAN` does instead;
- draw: every view of one plan (`--what all`: graph, paths, timeline + trace, report, view).
- the two commands as a user runs them, `pgc viz SPEC --what all -o DIR` and
  `pgc viz BUILD/plan.json --what all -o DIR` (the spec found under the working folder and
  hash-checked), each a new process (start-up and imports included), with Python's bytecode
  cache on as in an ordinary installation (kept in a temporary folder, filled by one untimed
  run of each command; without it every run compiles pgc's sources again, about 0.11 CPU s).
The headline is the whole-command ratio (target >= 10x); the step ratios say where it goes.

    python bench/viz_from_plan.py     # writes bench/results/viz_from_plan.{json,md}
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pgc.codegen.emit import emit  # noqa: E402
from pgc.frontend import load_program  # noqa: E402
from pgc.pipeline import run_passes  # noqa: E402
from pgc.plan_file import program_from_plan  # noqa: E402
from pgc.viz import render_all  # noqa: E402
from pgc.viz.output import run_dot  # noqa: E402

SPEC = ROOT / "examples" / "skippipe_geo20.pgc"
ROUNDS = 3
LOADS = 10
RESULTS = ROOT / "bench" / "results"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _pgc(pycache: Path, *args: str) -> None:
    """`pgc ARGS` as a user runs it (a new process: start-up and imports counted; bytecode
    cached in `pycache`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), PYTHONPYCACHEPREFIX=str(pycache))
    subprocess.run([sys.executable, "-m", "pgc", *args], check=True, capture_output=True,
                   env=env, cwd=ROOT)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = _cpu()
    out = fn()
    return _cpu() - start, out


def main() -> None:
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        build, pictures = Path(tmp) / "build", Path(tmp) / "pictures"
        planned = run_passes(load_program(str(SPEC)))
        emit(planned, build)  # plan.json as `pgc compile` writes it
        pycache = Path(tmp) / "pycache"
        commands = {"spec": ("viz", str(SPEC), "--what", "all", "-o", tmp + "/a"),
                    "plan": ("viz", str(build / "plan.json"), "--what", "all", "-o", tmp + "/b")}
        for command in commands.values():  # fills the bytecode cache
            _pgc(pycache, *command)
        for _ in range(ROUNDS):
            plan_s, _ = timed(lambda: run_passes(load_program(str(SPEC))))
            # a load takes a few clock ticks (os.times counts 10 ms ones): time LOADS of them
            load_s, loaded = timed(lambda: [program_from_plan(build / "plan.json", SPEC)
                                            for _ in range(LOADS)])
            load_s, program = load_s / LOADS, loaded[0]
            run_dot.cache_clear()  # each round draws from scratch, as one `pgc viz` run does
            draw_s, _ = timed(lambda p=program: render_all(p, pictures))  # type: ignore[misc]
            spec_cmd, _ = timed(lambda: _pgc(pycache, *commands["spec"]))
            plan_cmd, _ = timed(lambda: _pgc(pycache, *commands["plan"]))
            rounds.append({"plan_s": plan_s, "load_s": load_s, "draw_s": draw_s,
                           "command_spec_s": spec_cmd, "command_plan_s": plan_cmd})
    med = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    payload = {
        "machine": f"{platform.machine()} {platform.python_version()}",
        "spec": str(SPEC.relative_to(ROOT)), "rounds": rounds,
        "median": {k: round(v, 3) for k, v in med.items()},
        "plan_over_load": round(med["plan_s"] / med["load_s"], 1),
        "plan_and_draw_over_load_and_draw": round(
            (med["plan_s"] + med["draw_s"]) / (med["load_s"] + med["draw_s"]), 2),
        "command_spec_over_command_plan": round(med["command_spec_s"] / med["command_plan_s"], 2),
    }
    md = (f"# pgc viz from a compiled plan vs planning again ({payload['spec']})\n\n"
          f"CPU seconds (process + dot children), median of {ROUNDS} rounds, side by side.\n\n"
          "The two commands as a user runs them (new processes, Python start-up and imports "
          "included, bytecode cached):\n\n| command | CPU s |\n|---|---|\n"
          f"| pgc viz {payload['spec']} --what all -o DIR | {med['command_spec_s']:.3f} |\n"
          f"| pgc viz BUILD/plan.json --what all -o DIR | {med['command_plan_s']:.3f} |\n\n"
          f"whole commands: **{payload['command_spec_over_command_plan']}x** (target >= 10x).\n\n"
          "Their steps, in one process:\n\n| step | CPU s |\n|---|---|\n"
          f"| plan the spec (through simulated) | {med['plan_s']:.3f} |\n"
          f"| load the compiled plan.json (mean of {LOADS}) | {med['load_s']:.3f} |\n"
          f"| draw every view (--what all) | {med['draw_s']:.3f} |\n\n"
          f"load is {payload['plan_over_load']}x cheaper than planning again; load + draw "
          f"against plan + draw: {payload['plan_and_draw_over_load_and_draw']}x. The rest of the "
          "plan command is Python's start-up, imports (lark, graphviz, pgc's IR), the report's "
          "gpipe/1f1b rows and `dot`.\n")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "viz_from_plan.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / "viz_from_plan.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
