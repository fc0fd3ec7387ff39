"""Synthetic profiles: fill segment fields without building the model (never imports torch).

Two sources, both from the spec's `cost` block:

* `seconds_per_sample_per_layer = s` (SkipPipe's cost model, docs/design.md §8): forward
  time = s x microbatch size x layers of the segment, plus `loss_ratio` x s x microbatch size
  for the segment that computes the loss; backward = `backward` x forward. Bytes follow the
  same reference: a boundary carries d_model x seq values per sample, 4 bytes each (fp32)
  unless `activation_dtype` says otherwise (fp16, bf16: 2); activations per
  layer follow Korthikanti et al. (s b h (34 + 5 a s / h)); parameters are estimated as
  12 d_model^2 per layer plus vocab x d_model for each of embedding and head;
  FLOPs as 2 x parameters x tokens.
* `profile = "file.json"` (written by `pgc profile FILE -o file.json`): per-segment and
  per-block measured fields, taken as they are.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from pgc.diagnostics import error
from pgc.ir.types import DTYPE_BYTES, AutoPartition, BlockProfile, Program, Segment

PROFILE_VERSION = 1
FIELDS = ("params", "param_bytes", "flops", "boundary_bytes", "activation_bytes", "fwd_time",
          "bwd_time")
DIM_ARGS = ("dim", "d_model", "hidden_size", "n_embd")
HEAD_ARGS = ("heads", "n_heads", "num_attention_heads", "n_head")
VOCAB_ARGS = ("vocab", "vocab_size")


def fill(program: Program) -> Program:
    if program.cost.profile:
        return _from_file(program)
    return _from_cost_model(program)


MAX_MODEL_ARG = 2**31  # a width, head count or vocabulary the cost model can size


def _arg(program: Program, names: tuple[str, ...]) -> int | None:
    """The first of `names` among the model's whole-number arguments; a located error when it
    is too small or too large to size anything with (the sums over a plan must stay finite)."""
    args = dict(program.model.args)
    for n in names:
        value = args.get(n)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 1 <= value <= MAX_MODEL_ARG:
                raise error(program.model.span, f"model argument `{n}` = {value} is out of "
                            f"range for the cost model (1 .. {MAX_MODEL_ARG})")
            return value
    return None


def block_names(selectors: tuple[str, ...]) -> list[str] | None:
    """`layers[2:5]` -> layers.2, layers.3, layers.4 (None when not decidable without a model)."""
    out: list[str] = []
    for sel in selectors:
        m = re.fullmatch(r"([\w.]+)\[(\d+):(\d+)\]", sel) or re.fullmatch(r"([\w.]+)\[(\d+)\]", sel)
        if not m:
            return None
        lo = int(m.group(2))
        hi = int(m.group(3)) if m.re.groups == 3 else lo + 1
        out += [f"{m.group(1)}.{i}" for i in range(lo, hi)]
    return out


# -- SkipPipe-style cost model --------------------------------------------------------------

def _from_cost_model(program: Program) -> Program:
    s = program.cost.sec_per_sample_per_layer
    assert s is not None
    b, t = program.microbatch_size, program.seq_len
    d, heads, vocab = _arg(program, DIM_ARGS), _arg(program, HEAD_ARGS), _arg(program, VOCAB_ARGS)
    boundary = DTYPE_BYTES[program.cost.activation_dtype] * d * t * b if d else None
    act_layer = int(t * b * d * (34 + 5 * heads * t / d)) if d and heads else None
    p_layer = 12 * d * d if d else None

    def estimate(layers: int, embed: bool, head: bool, loss: bool) -> dict[str, Any]:
        fwd = s * b * layers + (program.cost.loss_ratio or 0.0) * s * b * loss
        params = None
        if p_layer is not None:
            params = p_layer * layers + (vocab or 0) * (d or 0) * (int(embed) + int(head))
        return {
            "params": params,
            "param_bytes": 4 * params if params is not None else None,
            "flops": 2.0 * params * b * t if params is not None else None,
            "boundary_bytes": None if loss else boundary,
            "activation_bytes": act_layer * layers if act_layer is not None else None,
            "fwd_time": fwd,
            "bwd_time": fwd * program.cost.backward_ratio,
        }

    segs = program.segments
    out = []
    for i, seg in enumerate(segs):
        loss = i == len(segs) - 1
        first = i == 0
        body = not first and not loss
        fields = estimate(seg.layers, first, loss, loss)
        out.append(replace(seg, **fields, skippable=body and seg.layers > 0))
    parts = tuple(
        replace(p, blocks=tuple(
            BlockProfile(name, **estimate(1, False, False, False),
                         signature=("residual", "residual"))
            for name in (block_names(p.selectors) or [])
        )) for p in program.partitions
    )
    return replace(program, segments=tuple(out), partitions=parts)


# -- measured profile file ------------------------------------------------------------------

def load_profile(program: Program) -> dict[str, Any]:
    assert program.cost.profile is not None
    path = Path(program.cost.profile)
    if not path.is_absolute():
        path = Path(program.file).parent / path
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise error(program.cost.span, f"cannot read profile `{program.cost.profile}`: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != PROFILE_VERSION:
        raise error(program.cost.span, f"profile `{program.cost.profile}` is not a version "
                    f"{PROFILE_VERSION} pgc profile", hint="write one with `pgc profile FILE -o`")
    return data


def _fields(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: entry[k] for k in FIELDS if k in entry}


def _from_file(program: Program) -> Program:
    data = load_profile(program)
    seg_data: dict[str, Any] = data.get("segments", {})
    blocks: dict[str, Any] = data.get("blocks", {})
    segs: list[Segment] = []
    for seg in program.segments:
        entry = seg_data.get(seg.name)
        if entry is None:
            segs.append(seg)
            continue
        segs.append(replace(seg, **_fields(entry), skippable=entry.get("skippable"),
                            boundary_in=tuple(entry.get("boundary_in", ())),
                            boundary_out=tuple(entry.get("boundary_out", ()))))
    parts = tuple(_part_from_file(p, blocks) for p in program.partitions)
    shared = tuple((k, tuple(v)) for k, v in data.get("shared_groups", {}).items())
    return replace(program, segments=tuple(segs), partitions=parts,
                   shared_groups=shared or program.shared_groups)


def _part_from_file(part: AutoPartition, blocks: dict[str, Any]) -> AutoPartition:
    names = block_names(part.selectors)
    if names is None:
        names = [n for n in blocks if any(fnmatch.fnmatchcase(n, s) for s in part.selectors)]
    missing = [n for n in names if n not in blocks]
    if missing or not names:
        raise error(part.span, f"the profile has no entry for block `{(missing or ['?'])[0]}`",
                    hint="re-run `pgc profile` on this spec")
    return replace(part, blocks=tuple(
        BlockProfile(n, **_fields(blocks[n]), signature=tuple(blocks[n].get("signature", ("", ""))))
        for n in names
    ))
