"""plan.json: the versioned contract between the compiler, the runtime and the visualizer.

The schema is defined once, as data (`SCHEMA`), and serves three uses: the compiler writes
plan.json to it (`pgc.ir.plan_schema.plan_to_dict`), `validate_plan` checks a loaded object
against it (types, then cross-references; the generated script does so at start-up and
refuses a plan that does not match), and `schema_markdown` renders the documentation
(docs/plan_schema.md is generated from it: `python -m pgc.runtime.schema`). Standard library
only, like the whole runtime.

Gradient semantics the action lists rely on (docs/CONTRACTS.md "Gradient"): ``ALLREDUCE <stage>``
sums the gradients of that stage's parameters that are *not* shared over the stage's replica
group; ``ALLREDUCE <param>`` sums one shared parameter's gradient over every worker that holds it
(all replicas of all owning segments). Each microbatch's loss is divided by the iteration's
microbatch count before its backward, so the sum is the exact gradient. Stage all-reduces
appear only for replica groups of two or more workers.
"""

from __future__ import annotations

from typing import Any

from .actions import ActionSyntaxError, parse_action
from .rules import shares_problem

SCHEMA_VERSION = 2


class PlanSchemaError(ValueError):
    """plan.json does not match the schema; the message names the field (`workers[3].host`)."""


# -- the schema as data -------------------------------------------------------------------
# A type is "str" | "int" | "number" | "bool" | "any" | ("list", T) | ("map", T) (string keys)
# | ("nullable", T) | ("enum", (values...)) | ("object", ((field, T, doc), ...)); a field of
# type ("optional", T) may be left out of its object (old plans stay valid without it).
Type = Any


def _obj(*fields: tuple[str, Type, str]) -> Type:
    return ("object", fields)


_MEMORY = _obj(
    ("weights", "number", "bytes of parameters"),
    ("grads", "number", "bytes of gradients"),
    ("optimizer", "number", "bytes of optimizer state"),
    ("activations", "number", "bytes of activations at peak inflight"),
    ("total", "number", "sum of the above"),
)

SCHEMA: Type = _obj(
    ("version", "int", f"schema version; this code writes and reads {SCHEMA_VERSION}"),
    ("spec_hash", "str", "sha256 of the spec text and its imports"),
    ("spec_file", "str", "the spec compiled: its path as given when relative, else its name "
     "(a plan holds no path of the compiling machine)"),
    ("pipeline", "str", "pipeline name"),
    ("layout", ("enum", ("ring", "chain")), "ring: origin holds prologue and epilogue"),
    ("schedule", ("enum", ("gpipe", "1f1b", "skippipe", "explicit")), "schedule kind"),
    ("world_size", "int", "number of workers = torch.distributed world size"),
    (
        "model",
        _obj(
            ("name", "str", "model name in the spec"),
            ("target", "str", "`module:function` factory"),
            ("args", ("map", "any"), "factory keyword arguments"),
        ),
        "the user's model",
    ),
    (
        "workers",
        ("list", _obj(
            ("name", "str", "worker name (the spec's node)"),
            ("rank", "int", "index in this table; ranks are assigned by host label at start-up"),
            ("host", "str", "host label (hostname or PGC_HOST); empty = any host"),
            ("region", "str", "region label"),
            ("rate", "number", "FLOP/s"),
            ("memory", "number", "bytes"),
        )),
        "worker table in rank order",
    ),
    (
        "segments",
        ("list", _obj(
            ("name", "str", "segment name (`s2`, `origin.pro`, `origin.epi`)"),
            ("stage", "str", "owning stage"),
            ("role", ("enum", ("prologue", "body", "epilogue", "first", "last", "whole")), ""),
            ("layers", "int", "transformer blocks in the segment"),
            ("param_names", ("list", "str"), "parameters the segment reads (state_dict names)"),
            ("skippable", ("nullable", "bool"), "input and output signatures match"),
        )),
        "segments in model execution order",
    ),
    (
        "stages",
        ("list", _obj(
            ("name", "str", "stage name"),
            ("segments", ("list", "str"), "its segments"),
            ("workers", ("list", "str"), "its replica group"),
            ("param_names", ("list", "str"), "parameters of all its segments"),
            ("never_skip", "bool", "paths must visit it"),
        )),
        "stages in pipeline order",
    ),
    (
        "shared_groups",
        ("list", _obj(
            ("param", "str", "the shared parameter (also the ALLREDUCE name)"),
            ("segments", ("list", "str"), "segments that use it"),
            ("workers", ("list", "str"), "every worker holding one of those segments"),
        )),
        "parameters shared between stages (tied weights)",
    ),
    (
        "microbatch",
        _obj(
            ("size", "int", "samples per microbatch"),
            ("seq_len", "int", "tokens per sample"),
            ("count", "int", "microbatches per iteration (M)"),
        ),
        "",
    ),
    ("inflight", "int", "microbatches a worker may hold activations for at once"),
    (
        "seeds",
        _obj(("train", "int", "model init seed"), ("data", "int", "data-order seed")),
        "",
    ),
    (
        "data",
        _obj(
            ("kind", "str", "synthetic, text or tokens"),
            ("args", ("map", "any"), "data source arguments; file paths relative to this "
             "plan's folder, or absolute"),
            ("origins", ("list", "str"), "origin workers; `origin_index` indexes this list"),
        ),
        "the data order: batch(plan, source, step, origin, mb, split) in pgc/runtime/data.py",
    ),
    (
        "train",
        _obj(
            ("steps", "int", ""),
            ("optimizer", "str", ""),
            ("optimizer_args", ("map", "any"), ""),
            ("lr_schedule", "str", ""),
            ("lr_schedule_args", ("map", "any"), ""),
            ("clip", ("nullable", "number"), "global-norm clip"),
            ("log_every", "int", ""),
            ("checkpoint_every", "int", "0 = never"),
            ("checkpoint_dir", "str", ""),
            ("checkpoint_keep", "int", ""),
            ("precision", ("enum", ("fp32", "bf16", "fp16")),
             "compute dtype under autocast; weights, gradients and optimizer state stay fp32; "
             "boundary activations and their gradients travel in it (docs/CONTRACTS.md, "
             "Precision)"),
            ("recompute", ("map", ("enum", ("none", "blocks", "stage"))),
             "stage -> activation recomputation in the backward: none, each block the stage "
             "calls, or the whole stage"),
            ("compile", "bool", "torch.compile each stage"),
        ),
        "training settings",
    ),
    (
        "sync",
        _obj(
            ("compress", ("enum", ("none", "bf16", "int8")),
             "how synced values travel: fp32 as they are, bf16, or int8 with one fp32 scale "
             "per chunk"),
            ("int8_chunk", "int", "values per int8 scale"),
            ("every", "int", "steps between syncs (1: every step)"),
            ("outer", ("enum", ("sgd", "nesterov")), "outer optimizer on the averaged "
             "pseudo-gradient"),
            ("outer_lr", "number", "outer learning rate"),
            ("outer_momentum", "number", "outer (Nesterov) momentum; 0 for sgd"),
            ("synchronous", "bool", "gradients summed every step, no outer optimizer "
             "(every = 1, outer = sgd(lr = 1))"),
        ),
        "how replica and shared groups synchronise (docs/CONTRACTS.md, Sync modes)",
    ),
    (
        "paths",
        ("list", _obj(
            ("mb", "int", "microbatch index 0..M-1"),
            ("origin", "str", "worker holding its data and labels"),
            ("origin_index", "int", "index of `origin` in data.origins"),
            ("hops", ("list", ("list", "str")), "[segment, worker] pairs, forward order"),
        )),
        "one path per microbatch; backward retraces it in reverse",
    ),
    ("actions", ("map", ("list", "str")), "worker -> action list in text form, run in order"),
    (
        "eval",
        _obj(
            ("every", "int", "steps between evaluations (0 = never)"),
            ("batches", "int", "held-out batches per evaluation"),
            ("skip", ("list", "str"), "skip ratios each evaluation tries (fractions of all "
             "stages, \"0\" first: the whole model)"),
        ),
        "evaluation settings",
    ),
    (
        "runtime",
        ("nullable", _obj(
            ("import_root", ("nullable", "str"),
             "folder the model's module imports from, relative to this plan's folder (null: "
             "importable as installed); `--import-root` or PGC_IMPORT_ROOT override it"),
            ("init", _obj(
                ("mode", ("enum", ("replay", "full-build")),
                 "how a worker makes its initial state (docs/CONTRACTS.md \"Initial state\")"),
                ("reason", "str", "why the full build, or why the replay is not verified"),
                ("skeleton", "bool", "the all-meta build has the full build's buffers"),
                ("verified", "bool", "the replay was compared with a full build at compile time"),
            ), "the initial state"),
            ("segments", ("list", _obj(
                ("name", "str", "segment name, as in `segments`"),
                ("first", "bool", "takes the token ids (the model's first segment)"),
                ("loss", "bool", "takes the labels last and returns the token-mean loss"),
                ("outputs", ("list", _obj(
                    ("shape", ("list", "any"), "sizes; `B` and `T` stand for microbatch size "
                     "and sequence length"),
                    ("dtype", "str", "torch dtype name"),
                )), "boundary tensors it returns, in order (empty for the loss segment)"),
            )), "each segment's calling convention, in model execution order"),
            ("launch", "str", "the torchrun command line(s) that run this plan"),
            ("vocab", "int", "vocabulary size (synthetic data draws below it)"),
            ("buckets", ("list", _obj(
                ("name", "str", "the ALLREDUCE name: a stage or a shared parameter"),
                ("workers", ("list", "str"), "the workers that sum it"),
                ("params", ("list", ("list", "str")),
                 "its tensors, each under every name it has in a segment"),
                ("shares", ("optional", ("map", "number")),
                 "worker -> its share of a direct weighted exchange (keys exactly `workers`, "
                 "finite, >= 0, summing to 1 within 1e-6; uncompressed sync only); absent: an "
                 "all-reduce (docs/CONTRACTS.md, Sync modes)"),
            )), "gradient buckets: every parameter summed once over exactly its holders"),
            ("links", ("map", ("list", "number")),
             "`a->b` -> [latency s, bandwidth B/s] (network emulation)"),
            ("message_overhead", "number", "seconds added to every message"),
            ("compute_times", ("map", ("list", "number")),
             "`segment@worker` -> [forward s, backward s] (compute emulation)"),
            ("allreduce_times", ("map", "number"), "group -> predicted all-reduce seconds"),
            ("step_times", ("map", "number"), "worker -> predicted optimizer-step seconds"),
        )),
        "what the generated script needs beyond the plan (null until `pgc compile` writes a "
        "runnable folder)",
    ),
    (
        "prediction",
        ("nullable", _obj(
            ("pipeline_time", "number", "seconds until the last backward"),
            ("iteration_time", "number", "seconds until every worker stepped"),
            ("lower_bound", "number", "lower bound on iteration_time for this placement"),
            ("pipeline_lower_bound", "number", "lower bound on pipeline_time"),
            ("gap", "number", "iteration_time / lower_bound - 1"),
            ("busy", ("map", "number"), "worker -> compute seconds"),
            ("peak_inflight", ("map", "int"), "worker -> peak microbatches held"),
            ("memory", ("map", _MEMORY), "worker -> memory estimate"),
            ("step_time", "number", "seconds of a step that does not sync"),
            ("amortised_time", "number",
             "mean seconds per step over `sync.every` steps, the last of which syncs"),
            ("amortised_lower_bound", "number", "lower bound on amortised_time"),
            ("sync_bytes", ("map", "number"),
             "collective group -> bytes each member puts on the wire per sync"),
        )),
        "simulated times (null before simulation)",
    ),
)


# -- reading --------------------------------------------------------------------------------
def _check(obj: Any, t: Type, where: str) -> None:
    def fail(expected: str) -> PlanSchemaError:
        return PlanSchemaError(f"plan.json: {where}: expected {expected}, got {obj!r:.60}")

    if t == "any":
        return
    if t == "str":
        if not isinstance(obj, str):
            raise fail("a string")
    elif t == "int":
        if isinstance(obj, bool) or not isinstance(obj, int):
            raise fail("an integer")
    elif t == "number":
        if isinstance(obj, bool) or not isinstance(obj, (int, float)):
            raise fail("a number")
    elif t == "bool":
        if not isinstance(obj, bool):
            raise fail("true or false")
    elif t[0] == "nullable":
        if obj is not None:
            _check(obj, t[1], where)
    elif t[0] == "optional":
        _check(obj, t[1], where)
    elif t[0] == "enum":
        if obj not in t[1]:
            raise fail("one of " + ", ".join(map(str, t[1])))
    elif t[0] == "list":
        if not isinstance(obj, list):
            raise fail("a list")
        for i, x in enumerate(obj):
            _check(x, t[1], f"{where}[{i}]")
    elif t[0] == "map":
        if not isinstance(obj, dict):
            raise fail("an object")
        for k, x in obj.items():
            _check(x, t[1], f"{where}.{k}")
    else:
        if not isinstance(obj, dict):
            raise fail("an object")
        names = [name for name, _, _ in t[1]]
        missing = [n for n, ft, _ in t[1] if n not in obj and not _optional(ft)]
        extra = [k for k in obj if k not in names]
        if missing or extra:
            raise PlanSchemaError(
                f"plan.json: {where or 'top level'}: "
                + (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"unknown {', '.join(extra)}" if extra else "")
            )
        for name, ft, _ in t[1]:
            if name in obj:
                _check(obj[name], ft, f"{where}.{name}" if where else name)


def _optional(t: Type) -> bool:
    return not isinstance(t, str) and t[0] == "optional"


def validate_plan(obj: Any) -> None:
    """Check a loaded plan.json: schema version first, then every field's type, then that names
    refer to each other (ranks, segments, workers, action text and peers). Raises
    PlanSchemaError naming the first offending field."""
    if not isinstance(obj, dict) or obj.get("version") != SCHEMA_VERSION:
        got = obj.get("version") if isinstance(obj, dict) else type(obj).__name__
        raise PlanSchemaError(
            f"plan.json: version: this pgc reads schema version {SCHEMA_VERSION}, got {got!r}; "
            "recompile the spec with this pgc"
        )
    _check(obj, SCHEMA, "")
    _check_references(obj)


def _check_references(obj: dict[str, Any]) -> None:
    workers = [w["name"] for w in obj["workers"]]
    if obj["world_size"] != len(workers):
        raise PlanSchemaError(
            f"plan.json: world_size is {obj['world_size']} but the worker table has {len(workers)}"
        )
    for i, w in enumerate(obj["workers"]):
        if w["rank"] != i:
            raise PlanSchemaError(f"plan.json: workers[{i}].rank: expected {i}, got {w['rank']}")
    known_w, known_s = set(workers), {s["name"] for s in obj["segments"]}
    if len(known_w) != len(workers):
        raise PlanSchemaError("plan.json: workers: duplicate worker names")
    for i, st in enumerate(obj["stages"]):
        _names_in(st["workers"], known_w, f"stages[{i}].workers")
        _names_in(st["segments"], known_s, f"stages[{i}].segments")
    _names_in(list(obj["train"]["recompute"]), {st["name"] for st in obj["stages"]},
              "train.recompute")
    for i, p in enumerate(obj["paths"]):
        for j, hop in enumerate(p["hops"]):
            if len(hop) != 2:
                raise PlanSchemaError(f"plan.json: paths[{i}].hops[{j}]: expected [segment, worker]")
            _names_in([hop[0]], known_s, f"paths[{i}].hops[{j}]")
            _names_in([hop[1]], known_w, f"paths[{i}].hops[{j}]")
        if not 0 <= p["origin_index"] < len(obj["data"]["origins"]):
            raise PlanSchemaError(f"plan.json: paths[{i}].origin_index out of range")
    groups = {st["name"] for st in obj["stages"]} | {g["param"] for g in obj["shared_groups"]}
    for w, lines in obj["actions"].items():
        _names_in([w], known_w, "actions")
        for j, line in enumerate(lines):
            where = f"actions.{w}[{j}]"
            try:
                a = parse_action(line)
            except ActionSyntaxError as exc:
                raise PlanSchemaError(f"plan.json: {where}: {exc}") from None
            if a.peer:
                _names_in([a.peer], known_w, where)
            elif a.kind in ("F", "B"):
                _names_in([a.segment], known_s, where)
            elif a.kind == "ALLREDUCE":
                _names_in([a.segment], groups, where)
    _check_runtime(obj, known_w)


def _check_runtime(obj: dict[str, Any], known_w: set[str]) -> None:
    rt = obj["runtime"]
    if rt is None:
        return
    if [s["name"] for s in rt["segments"]] != [s["name"] for s in obj["segments"]]:
        raise PlanSchemaError("plan.json: runtime.segments: expected the segments, in order")
    for i, b in enumerate(rt["buckets"]):
        _names_in(b["workers"], known_w, f"runtime.buckets[{i}].workers")
        if "shares" in b:
            _check_shares(b, obj["sync"]["compress"], f"runtime.buckets[{i}].shares")


def _check_shares(bucket: dict[str, Any], compress: str, where: str) -> None:
    """A bucket's direct-exchange shares (`rules.shares_problem`); only for an uncompressed
    sum (a compressed one cuts even shards)."""
    if compress != "none":
        raise PlanSchemaError(f"plan.json: {where}: shares need `sync.compress` none, got "
                              f"{compress!r} (a compressed sum cuts even shards)")
    problem = shares_problem(bucket["shares"], bucket["workers"])
    if problem is not None:
        raise PlanSchemaError(f"plan.json: {where}: {problem}")


def _names_in(names: list[str], known: set[str], where: str) -> None:
    for n in names:
        if n not in known:
            raise PlanSchemaError(f"plan.json: {where}: unknown name {n!r}")


def schema_markdown() -> str:
    """The schema as a Markdown field table (docs/plan_schema.md is this text)."""
    out = [
        f"# plan.json (schema version {SCHEMA_VERSION})",
        "",
        "Generated from `pgc/runtime/schema.py` (`python -m pgc.runtime.schema`); do not edit.",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
    ]
    _rows(SCHEMA, "", out)
    doc = (__doc__ or "").split("\n\n", 1)[1].strip()
    return "\n".join(out) + "\n\n" + doc + "\n"


def _type_name(t: Type) -> str:
    if isinstance(t, str):
        return t
    if t[0] == "object":
        return "object"
    if t[0] == "enum":
        return " \\| ".join(f"`{v}`" for v in t[1])
    if t[0] == "optional":
        return f"{_type_name(t[1])}, optional"
    return f"{t[0]} of {_type_name(t[1])}"


def _rows(t: Type, prefix: str, out: list[str]) -> None:
    for name, ft, doc in t[1]:
        path = f"{prefix}{name}"
        out.append(f"| `{path}` | {_type_name(ft)} | {doc} |")
        inner = ft
        suffix = ""
        while not isinstance(inner, str) and inner[0] in ("list", "map", "nullable", "optional"):
            suffix += "[]" if inner[0] == "list" else ".*" if inner[0] == "map" else ""
            inner = inner[1]
        if not isinstance(inner, str) and inner[0] == "object":
            _rows(inner, f"{path}{suffix}.", out)


if __name__ == "__main__":
    print(schema_markdown(), end="")
