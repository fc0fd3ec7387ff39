"""A compiled plan read back as a Program, without planning again.

`program_from_plan(path, spec)` takes a `plan.json` (or the folder `pgc compile` wrote it to),
checks it against the schema, lowers the spec (parse, lower, capture and partition: no placement
or routing search), checks that the spec is the one compiled (spec hash), puts the
plan's placement, paths and action lists in, and runs the cheap passes after them (`verified`,
`simulated`: O(actions)). The pictures drawn from it are the compiled plan's, even when placing
the spec again would choose differently (auto placement is a budgeted search).

Capture imports and calls the spec's model factory, so the spec must be one the user names: a
plan never chooses code. Without `spec`, the spec the plan names is looked for (beside the plan,
in the working folder): when its cost block times the model without building it (a profile, or
seconds per sample per layer) no model code runs and the plan is drawn from it; otherwise pgc
only says where it is and how to name it.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from pgc.diagnostics import Diagnostic, UserError
from pgc.ir.types import NO_SPAN, Hop, Program
from pgc.ir.types import Path as MbPath


def _fail(message: str, hint: str = "") -> UserError:
    return UserError(Diagnostic(NO_SPAN, message, hint=hint or None))


def is_plan(path: Path) -> bool:
    """A plan.json, or a folder holding one (what `pgc compile -o DIR` writes)."""
    return path.suffix.lower() == ".json" or (path.is_dir() and (path / "plan.json").is_file())


def read_plan(path: Path) -> tuple[Path, dict[str, Any]]:
    """The plan file and its validated object; a UserError says what is wrong and where."""
    from pgc.runtime.schema import PlanSchemaError, validate_plan

    file = path / "plan.json" if path.is_dir() else path
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"no plan at `{file}`", "compile the spec first: pgc compile SPEC -o DIR") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _fail(f"`{file}` is not a JSON plan: {exc}") from None
    try:
        validate_plan(obj)
    except PlanSchemaError as exc:
        raise _fail(f"`{file}`: {exc}") from None
    return file, obj


SEARCHED = 50  # at most this many same-named files under the working folder are tried
FOLDERS = 5000  # and at most this many folders are looked into (hidden ones skipped)


def spec_candidates(file: Path, obj: dict[str, Any], spec: Path | None) -> list[Path]:
    """Where the spec may be: `spec` when given; else the plan records only the spec's file
    name (a plan holds no path of the compiling machine), so: next to the plan, in the working
    folder, then same-named files under the working folder (bounded by SEARCHED and FOLDERS,
    so a huge working folder costs a bounded look, not a hang)."""
    if spec is not None:
        return [spec]
    name = Path(obj["spec_file"]).name
    found = [file.parent / name, Path(name)]
    for folders, (root, dirs, files) in enumerate(os.walk(Path.cwd())):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if name in files:
            found.append(Path(root) / name)
        if folders >= FOLDERS or len(found) >= SEARCHED:
            break
    return [c for c in dict.fromkeys(found) if c.is_file()]


def _matching_spec(file: Path, obj: dict[str, Any], spec: Path | None) -> Program:
    """The lowered spec whose hash is the plan's; a UserError says what was found instead."""
    from pgc.capture.pass_capture import builds_model
    from pgc.frontend import load_program

    candidates = spec_candidates(file, obj, spec)
    if not candidates:
        raise _fail(f"`{file}` was compiled from `{obj['spec_file']}`, which is not found from "
                    "here", "pass the spec with --spec FILE")
    for candidate in candidates:
        try:
            program = load_program(str(candidate))
        except UserError:
            if spec is not None:
                raise
            continue
        if program.spec_hash == obj["spec_hash"]:
            if spec is None and builds_model(program):  # found, not named: no code it chose
                raise _fail(f"`{file}` was compiled from `{candidate}`; drawing it imports and "
                            f"runs that spec's model `{program.model.target}`, and pgc runs "
                            "model code only from a spec you name",
                            f"if you trust that spec and its model: --spec {candidate}")
            return program
    raise _fail(f"`{candidates[0]}` has changed since `{file}` was compiled (spec hash differs)",
                "compile it again, or pass the spec it was compiled from with --spec")


def program_from_plan(path: Path, spec: Path | None = None) -> Program:
    """The simulated Program of a compiled plan (module docstring). O(spec lowering + actions)."""
    from pgc.ir.plan_schema import actions_from_dict
    from pgc.pipeline import run_passes

    file, obj = read_plan(path)
    program = run_passes(_matching_spec(file, obj, spec), until="partitioned")
    placement = tuple((st["name"], tuple(st["workers"])) for st in obj["stages"])
    paths = tuple(MbPath(p["mb"], p["origin"], tuple(Hop(s, w) for s, w in p["hops"]))
                  for p in obj["paths"])
    actions = actions_from_dict(obj)
    program = replace(program, placement=placement, auto_place=(), paths=paths,
                      actions=tuple((w.name, actions.get(w.name, ())) for w in program.workers))
    return run_passes(program, start="verified", until="simulated")
