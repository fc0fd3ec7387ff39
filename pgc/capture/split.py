"""Capture a program's model and cut it into the program's segments (cached per model)."""

from __future__ import annotations

import functools
from dataclasses import replace

from pgc.capture.cut import Cut, SegmentSpec, analyse
from pgc.capture.graph import Captured, CaptureFailed, capture
from pgc.capture.model import ModelSource, build_model, resolve_factory
from pgc.diagnostics import error
from pgc.ir.types import ModelRef, Program


def captured_model(ref: ModelRef, spec_file: str, batch: int, seq: int) -> Captured:
    """The model built on the meta device and captured at (batch, seq) and a second shape;
    cached per model and shape (the fields `traced` fills in do not matter)."""
    return _captured(replace(ref, file="", import_root=""), spec_file, batch, seq)


@functools.lru_cache(maxsize=8)
def _captured(ref: ModelRef, spec_file: str, batch: int, seq: int) -> Captured:
    model = build_model(ref, spec_file, device="meta")
    try:
        return capture(model, batch, max(seq, 2))
    except CaptureFailed as exc:
        raise error(ref.span, f"cannot capture model `{ref.name}`: {exc}") from exc


def segment_specs(program: Program) -> list[SegmentSpec]:
    return [SegmentSpec(s.name, s.selectors, s.span) for s in program.segments]


def split_program(program: Program) -> tuple[Cut, ModelSource]:
    """The program's model cut into its segments; run after `partitioned` (every segment must
    have selectors by then)."""
    empty = [s.name for s in program.segments if not s.selectors]
    if empty:
        raise ValueError(f"segments {empty} have no modules yet: run the `partitioned` pass first")
    _, source = resolve_factory(program.model, program.file)
    cap = captured_model(program.model, program.file, program.microbatch_size, program.seq_len)
    return analyse(cap, segment_specs(program)), source
