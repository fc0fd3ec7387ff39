"""Lowering the settings blocks of a pipeline: microbatch, skip, swap, cost, sync, train, eval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from pgc.diagnostics import did_you_mean, error
from pgc.frontend import ast
from pgc.frontend import values as V
from pgc.frontend.blocks import Collector, block, settings, value
from pgc.ir.types import (
    DTYPE_BYTES,
    PRECISIONS,
    RECOMPUTE,
    SYNC_WIDTH,
    CostModel,
    EvalConfig,
    Span,
    SyncConfig,
    TrainConfig,
    Value,
)

# Callable settings: name -> allowed keyword arguments. These are exactly what the generated
# training script reads (pgc/runtime/), so `pgc check` rejects what it would not run.
OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "sgd": ("lr", "momentum", "weight_decay"),
    "adamw": ("lr", "betas", "eps", "weight_decay"),
}
LR_SCHEDULES: dict[str, tuple[str, ...]] = {
    "constant": ("warmup",),
    "cosine": ("warmup", "min_ratio"),
    "linear": ("warmup", "min_ratio"),
}
DATA_SOURCES: dict[str, tuple[str, ...]] = {
    "synthetic": ("seed", "vocab"),
    "text": ("files", "path", "seed", "val_fraction", "val"),
    "tokens": ("path", "dtype", "seed", "val_fraction", "val"),
}
# arguments a call cannot do without: name -> alternatives, one of which must be given
REQUIRED: dict[str, tuple[str, ...]] = {"text": ("files", "path"), "tokens": ("path",)}


@dataclass(frozen=True)
class Microbatch:
    size: int
    seq: int
    count: int | None
    per_origin: int | None
    span: Span


def microbatch(b: ast.Nested | None, where: Span, errors: Collector) -> Microbatch:
    if b is None:
        raise error(where, "the pipeline needs a `microbatch` block", hint="e.g. `microbatch { size = 4; seq = 128; count = 8 }`")
    found = settings(b.items, "`microbatch`", ("size", "seq", "count", "per_origin"), errors=errors)
    size_v, seq_v = value(found, "size"), value(found, "seq")
    count_v, per_v = value(found, "count"), value(found, "per_origin")
    if size_v is None or seq_v is None:
        missing = "size" if size_v is None else "seq"
        raise error(b.span, f"`microbatch` needs `{missing}`", hint="e.g. `microbatch { size = 4; seq = 128; count = 8 }`")
    if (count_v is None) == (per_v is None):
        raise error(b.span, "`microbatch` needs exactly one of `count` and `per_origin`")
    size = V.integer(size_v, "size", 1)
    seq = V.integer(seq_v, "seq", 1)
    count = V.integer(count_v, "count", 1) if count_v is not None else None
    per = V.integer(per_v, "per_origin", 1) if per_v is not None else None
    return Microbatch(size, seq, count, per, b.span)


def skip(b: ast.Nested | None, errors: Collector) -> tuple[Fraction, list[ast.Ref], Span | None, float | None]:
    if b is None:
        return Fraction(0), [], None, 0.0
    found = settings(b.items, "`skip`", ("ratio", "never", "balance"), errors=errors)
    ratio_v, never_v = value(found, "ratio"), value(found, "never")
    ratio = V.fraction(ratio_v, "ratio") if ratio_v is not None else Fraction(0)
    if not 0 <= ratio < 1:
        assert ratio_v is not None
        raise error(ratio_v.span, f"skip `ratio` must be in [0, 1), not {ratio}")
    never = V.names(never_v, "never") if never_v is not None else []
    span = ratio_v.span if ratio_v is not None else b.span
    return ratio, never, span, _balance(value(found, "balance"))


def _balance(v: ast.Value | None) -> float | None:
    """`balance = off` (no stage-load constraint), or the slack over an even share: `0%`
    (default), `25%`, `1/4`."""
    if v is None:
        return 0.0
    if isinstance(v, ast.Ref) and not v.accessors and v.name in ("off", "none"):
        return None
    if isinstance(v, ast.Ref):
        raise error(v.span, f"`balance` must be `off` or a fraction like `10%`, not `{v.name}`")
    x = V.fraction(v, "balance")
    if x < 0:
        raise error(v.span, "`balance` must be at least 0%")
    return float(x)


def swap(b: ast.Nested | None, errors: Collector) -> tuple[int, Span | None]:
    if b is None:
        return 0, None
    found = settings(b.items, "`swap`", ("max",), errors=errors)
    v = value(found, "max")
    return (V.integer(v, "max", 0), v.span) if v is not None else (0, None)


COST_KEYS = ("backward", "message_overhead", "efficiency", "seconds_per_sample_per_layer", "loss", "profile",
             "activation_dtype")


def cost(b: ast.Nested | None, errors: Collector) -> CostModel:
    if b is None:
        return CostModel()
    found = settings(b.items, "`cost`", COST_KEYS, errors=errors)
    kw: dict[str, object] = {"span": b.span}
    for key, field, kind in (
        ("backward", "backward_ratio", "ratio"),
        ("message_overhead", "message_overhead", "time"),
        ("efficiency", "efficiency", "ratio"),
        ("seconds_per_sample_per_layer", "sec_per_sample_per_layer", "time"),
        ("loss", "loss_ratio", "ratio"),
    ):
        v = value(found, key)
        if v is not None:
            x = errors.run(V.number, v, key, kind)
            if x is not None and (x < 0 or (x == 0 and key != "message_overhead")):
                errors.add(error(v.span, f"`{key}` must be positive"))
            elif x is not None and key == "efficiency" and x > 1:
                errors.add(error(v.span, "`efficiency` is a fraction of peak and must be at most 100%"))
            kw[field] = x
    profile_v = value(found, "profile")
    if profile_v is not None:
        kw["profile"] = errors.run(V.string, profile_v, "profile")
    dtype_v = value(found, "activation_dtype")
    if dtype_v is not None:
        dtype = errors.run(V.name, dtype_v, "activation_dtype")
        if dtype is not None and dtype not in DTYPE_BYTES:
            errors.add(error(dtype_v.span, f"unknown `activation_dtype` `{dtype}`",
                             hint=did_you_mean(dtype, DTYPE_BYTES) or f"known: {', '.join(DTYPE_BYTES)}"))
        elif dtype is not None:
            kw["activation_dtype"] = dtype
    return CostModel(**kw)  # type: ignore[arg-type]


# outer optimizers of `sync { outer = ... }`: name -> (argument, default) in order
OUTER: dict[str, tuple[tuple[str, float], ...]] = {
    "sgd": (("lr", 1.0),),
    "nesterov": (("lr", 0.7), ("momentum", 0.9)),  # DiLoCo's (Douillard et al., 2023)
}


def sync(b: ast.Nested | None, errors: Collector) -> SyncConfig:
    """`sync { compress = none | bf16 | int8; every = H; outer = nesterov(lr, momentum) |
    sgd(lr); exchange = auto | ring | direct }` (docs/design.md §4b); absent: synchronous,
    uncompressed, exchange chosen per group."""
    if b is None:
        return SyncConfig()
    readers: dict[str, Callable[[ast.Value], dict[str, object]]] = {
        "compress": lambda v: {"compress": _compress(v)},
        "every": lambda v: {"every": V.integer(v, "every", 1)},
        "outer": _outer,
        "exchange": lambda v: {"exchange": _word(v, "exchange", EXCHANGES, ", ")},
    }
    found = settings(b.items, "`sync`", tuple(readers), errors=errors)
    kw: dict[str, object] = {"span": b.span}
    for key, read in readers.items():
        v = value(found, key)
        if v is not None:
            kw.update(errors.run(read, v) or {})
    exchange = value(found, "exchange")
    if exchange is not None and kw.get("exchange", "auto") != "auto" \
            and kw.get("compress", "none") != "none":
        errors.add(error(exchange.span, "`exchange` chooses how an uncompressed sum travels; "
                         f"with `compress = {kw['compress']}` values always travel in a direct "
                         "exchange of equal shares",
                         hint="remove `exchange`, or use `compress = none`"))
    return SyncConfig(**kw)  # type: ignore[arg-type]


EXCHANGES = ("auto", "ring", "direct")


def _compress(v: ast.Value) -> str:
    return _word(v, "compress", tuple(SYNC_WIDTH), ", ")


def _outer(v: ast.Value) -> dict[str, object]:
    """`nesterov(lr = 0.7, momentum = 0.9)` or `sgd(lr = 1)` (bare names take the defaults)."""
    table = {name: tuple(k for k, _ in args) for name, args in OUTER.items()}
    head, args = _call(v, "outer optimizer", table)
    got = dict(OUTER[head]) | {k: float(x) for k, x in args}  # type: ignore[arg-type]
    spans = {a.key: a.value.span for a in v.args} if isinstance(v, ast.Call) else {}
    if got["lr"] <= 0:
        raise error(spans.get("lr", v.span), f"`lr` of `{head}` must be positive")
    momentum = got.get("momentum", 0.0)
    if not 0 <= momentum < 1:
        raise error(spans.get("momentum", v.span), f"`momentum` of `{head}` must be in [0, 1)")
    return {"outer": head, "outer_lr": got["lr"], "outer_momentum": momentum}


def _call(v: ast.Value, what: str, table: dict[str, tuple[str, ...]]) -> tuple[str, tuple[tuple[str, Value], ...]]:
    """`adamw(lr = 3e-4)` or a bare `adamw` -> (name, ((key, value), ...)), checked against
    `table` (name -> allowed keyword arguments)."""
    args: tuple[ast.Arg, ...] = ()
    if isinstance(v, ast.Ref) and not v.accessors:
        head = v.name
    elif isinstance(v, ast.Call):
        head, args = v.name, v.args
    else:
        raise error(v.span, f"`{what}` must be one of {', '.join(table)}, e.g. `{next(iter(table))}(...)`")
    if head not in table:
        raise error(v.span, f"unknown {what} `{head}`", hint=did_you_mean(head, table) or f"known: {', '.join(table)}")
    out: list[tuple[str, Value]] = []
    for arg in args:
        if arg.key is None:
            raise error(arg.span, f"arguments of `{head}` are named", hint=f"write e.g. `{head}({table[head][0]} = ...)`" if table[head] else None)
        if arg.key not in table[head]:
            known = ", ".join(table[head]) or "none"
            raise error(arg.span, f"`{head}` has no argument `{arg.key}`", hint=did_you_mean(arg.key, table[head]) or f"arguments: {known}")
        if arg.key in dict(out):
            raise error(arg.span, f"argument `{arg.key}` is given twice")
        _check_optimizer_arg(head, arg)
        out.append((arg.key, V.literal(arg.value, arg.key)))
    need = REQUIRED.get(head, ())
    if need and not any(k in dict(out) for k in need):
        raise error(v.span, f"`{head}` needs `{' or '.join(need)}`", hint=f'e.g. `{head}({need[0]} = "data/train.bin")`')
    return head, tuple(out)


def _check_optimizer_arg(head: str, arg: ast.Arg) -> None:
    """The values torch's optimizers refuse at start-up, refused here instead."""
    if head not in OPTIMIZERS or arg.key is None:
        return
    if arg.key == "betas":
        items = arg.value.items if isinstance(arg.value, ast.List) else ()
        if len(items) != 2:
            raise error(arg.value.span, "`betas` is a list of two numbers, e.g. `[0.9, 0.95]`")
        for item in items:
            if not 0 <= V.number(item, "betas", "ratio") < 1:
                raise error(item.span, "each of `betas` must be in [0, 1)")
    elif V.number(arg.value, arg.key, "ratio") < 0:
        raise error(arg.value.span, f"`{arg.key}` of `{head}` must not be negative")


TRAIN_KEYS = ("steps", "optimizer", "lr_schedule", "clip", "data", "seed", "log_every", "precision",
              "recompute", "compile")


def train(b: ast.Nested | None, errors: Collector) -> TrainConfig:
    if b is None:
        return TrainConfig()
    found = settings(b.items, "`train`", TRAIN_KEYS, ("checkpoint", "recompute"), errors=errors)
    kw: dict[str, object] = {"span": b.span}
    ints = {"steps": ("steps", 1), "seed": ("seed", 0), "log_every": ("log_every", 1)}
    for key, (field, minimum) in ints.items():
        v = value(found, key)
        if v is not None:
            kw[field] = errors.run(V.integer, v, key, minimum) or 0
    calls = (("optimizer", OPTIMIZERS), ("lr_schedule", LR_SCHEDULES), ("data", DATA_SOURCES))
    for key, table in calls:
        v = value(found, key)
        if v is not None:
            got = errors.run(_call, v, key.replace("_", " "), table)
            if got is not None:
                kw[key], kw[f"{key}_args"] = got
    clip_v = value(found, "clip")
    if clip_v is not None:
        kw["clip"] = errors.run(V.positive, clip_v, "clip")
    ckpt = block(found, "checkpoint")
    if ckpt is not None:
        kw.update(errors.run(_checkpoint, ckpt, errors) or {})
    for key, known in (("precision", PRECISIONS), ("recompute", RECOMPUTE)):
        v = value(found, key)
        if v is not None:
            kw[key] = errors.run(_word, v, key, known) or known[0]
    per_stage = block(found, "recompute")
    if per_stage is not None:
        rules = _recompute_stages(per_stage, errors)
        kw["recompute_stages"] = tuple((k, m) for k, m in rules if k != "pipeline")
        kw["recompute"] = dict(rules).get("pipeline", "none")
    compile_v = value(found, "compile")
    if compile_v is not None:
        kw["compile"] = errors.run(_flag, compile_v, "compile") or False
    return TrainConfig(**kw)  # type: ignore[arg-type]


def _word(v: ast.Value, key: str, known: tuple[str, ...], sep: str = " | ") -> str:
    """A bare name out of `known` (`precision = bf16`); `sep` joins them in the message."""
    if not isinstance(v, ast.Ref) or v.accessors:
        raise error(v.span, f"`{key}` must be one of {sep.join(known)}, not {V.describe(v)}")
    if v.name not in known:
        raise error(v.span, f"unknown `{key}` `{v.name}`",
                    hint=did_you_mean(v.name, known) or f"known: {', '.join(known)}")
    return v.name


def check_recompute_stages(decl: ast.PipelineDecl, names: list[str], errors: Collector) -> None:
    """Each key of `train { recompute { STAGE = ... } }` names a stage of the pipeline."""
    for train_block in (i for i in decl.items if isinstance(i, ast.Nested) and i.name == "train"):
        for per in (i for i in train_block.items if isinstance(i, ast.Nested) and i.name == "recompute"):
            for item in (i for i in per.items if isinstance(i, ast.Assign)):
                if item.key not in names and item.key != "pipeline":
                    errors.add(error(item.span, f"`recompute`: unknown stage `{item.key}`",
                                     hint=did_you_mean(item.key, names) or f"stages: {', '.join(names)}"))


def _flag(v: ast.Value, key: str) -> bool:
    if isinstance(v, ast.Ref) and not v.accessors and v.name in ("true", "false"):
        return v.name == "true"
    raise error(v.span, f"`{key}` must be true or false, not {V.describe(v)}")


def _recompute_stages(b: ast.Nested, errors: Collector) -> tuple[tuple[str, str], ...]:
    """`recompute { pipeline = blocks; s1 = stage }`: the pipeline's setting and per-stage ones
    (which stages exist is checked once the stages are known, `check_recompute_stages`)."""
    out: list[tuple[str, str]] = []
    for item in b.items:
        if not isinstance(item, ast.Assign):
            errors.add(error(item.span, "`recompute { }` holds `STAGE = none | blocks | stage` "
                             "and `pipeline = ...` lines"))
            continue
        mode = errors.run(_word, item.value, "recompute", RECOMPUTE)
        if mode is not None:
            out.append((item.key, mode))
    return tuple(out)


def _checkpoint(b: ast.Nested, errors: Collector) -> dict[str, object]:
    found = settings(b.items, "`checkpoint`", ("every", "dir", "keep"), errors=errors)
    out: dict[str, object] = {}
    every, dir_, keep = value(found, "every"), value(found, "dir"), value(found, "keep")
    if every is not None:
        out["checkpoint_every"] = V.integer(every, "every", 1)
    if dir_ is not None:
        out["checkpoint_dir"] = V.string(dir_, "dir")
    if keep is not None:
        out["checkpoint_keep"] = V.integer(keep, "keep", 1)
    return out


def evaluation(b: ast.Nested | None, errors: Collector) -> EvalConfig:
    if b is None:
        return EvalConfig()
    found = settings(b.items, "`eval`", ("every", "batches", "skip"), errors=errors)
    kw: dict[str, object] = {"span": b.span}
    every, batches, skip_v = value(found, "every"), value(found, "batches"), value(found, "skip")
    if every is not None:
        kw["every"] = errors.run(V.integer, every, "every", 0) or 0
    if batches is not None:
        kw["batches"] = errors.run(V.integer, batches, "batches", 1) or 1
    if skip_v is not None:
        items = skip_v.items if isinstance(skip_v, ast.List) else (skip_v,)
        ratios = []
        for item in items:
            r = errors.run(V.fraction, item, "skip")
            if r is not None and not 0 <= r < 1:
                errors.add(error(item.span, f"an eval skip ratio must be in [0, 1), not {r}"))
            elif r is not None:
                ratios.append((r.numerator, r.denominator))
        kw["skip_ratios"] = tuple(ratios)
    return EvalConfig(**kw)  # type: ignore[arg-type]
