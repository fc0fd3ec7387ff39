"""Shared helpers of the planner benchmarks: timing a plan, judging it, writing results."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, replace
from pathlib import Path

from pgc.ir.types import Program
from pgc.passes.place_auto import place_auto
from pgc.passes.route_skippipe import route
from pgc.planner.judge import Verdict, judge

RESULTS = Path(__file__).resolve().parent.parent / "results"


@dataclass(frozen=True)
class Planned:
    program: Program
    seconds: float  # wall time of placement + routing
    verdict: Verdict


def plan(program: Program, objective: str = "iteration", place_s: float | None = None,
         route_s: float | None = None, polish_s: float | None = None) -> Planned:
    """Place (`on auto`) and route a program as the compiler does under `objective`, timed,
    then judge it."""
    start = time.perf_counter()
    kwargs = {} if place_s is None else {"budget_s": place_s}
    program = replace(program, objective=objective)  # type: ignore[arg-type]
    placed = place_auto(program, **kwargs)
    placed = replace(placed, auto_place=())
    rkw = {k: v for k, v in (("budget_s", route_s), ("polish_s", polish_s)) if v is not None}
    routed = route(placed, **rkw)
    seconds = time.perf_counter() - start
    return Planned(routed, seconds, judge(routed))


def verdict_dict(v: Verdict) -> dict[str, float]:
    return {"pipeline_s": round(v.pipeline, 3), "iteration_s": round(v.iteration, 3),
            "pipeline_bound_s": round(v.bound, 3),
            "gap": round(v.pipeline / v.bound - 1, 4) if v.bound > 0 else None}


def write(name: str, payload: dict[str, object], markdown: str) -> None:
    """bench/results/planner_<name>.json and .md, with the machine they ran on."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"machine": f"{platform.machine()} {platform.python_version()}", **payload}
    (RESULTS / f"planner_{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (RESULTS / f"planner_{name}.md").write_text(markdown)
    print(markdown)


def table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
