"""Capture a program's model and cut it into the program's segments (cached per model)."""

from __future__ import annotations

import functools
from dataclasses import replace

import torch
from torch import nn

from pgc.capture.cut import Cut, SegmentSpec, analyse, selectable
from pgc.capture.graph import Captured, CaptureFailed, capture
from pgc.capture.model import ModelSource, build_model, resolve_factory
from pgc.capture.select import resolve
from pgc.diagnostics import error
from pgc.ir.types import ModelRef, Program


def captured_model(ref: ModelRef, spec_file: str, batch: int, seq: int,
                   leaves: frozenset[str] = frozenset()) -> Captured:
    """The model built on the meta device and captured at (batch, seq) and a second shape,
    the modules `leaves` kept as calls; cached per model, shape and leaves (the fields
    `traced` fills in do not matter)."""
    return _captured(replace(ref, file="", import_root=""), spec_file, batch, seq, leaves)


@functools.lru_cache(maxsize=8)
def _captured(ref: ModelRef, spec_file: str, batch: int, seq: int,
              leaves: frozenset[str]) -> Captured:
    model = build_model(ref, spec_file, device="meta")
    try:
        return capture(model, batch, max(seq, 2), leaves)
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
    size = (program.microbatch_size, program.seq_len)
    flat = captured_model(program.model, program.file, *size)
    leaves = whole_modules(flat.model, segment_specs(program))
    cap = captured_model(program.model, program.file, *size, leaves)
    return analyse(cap, segment_specs(program)), source


def whole_modules(model: torch.nn.Module, specs: list[SegmentSpec]) -> frozenset[str]:
    """The modules the stages select whole (`embed`, `layers.3`; not a ModuleList): stage code
    calls them, so a stage reads as the user's own blocks and a traceback lands in their code.
    Ops between them, or inside a module a selector cuts into, stay inline."""
    modules = dict(model.named_modules(remove_duplicate=False))
    names = selectable(model)  # modules, and the root's own parameters and buffers

    def callable_parts(path: str) -> list[str]:  # a container's children, recursively
        if path not in modules:  # a root-level parameter or buffer: read inline
            return []
        if not isinstance(modules[path], (nn.ModuleList, nn.ModuleDict)):
            return [path]
        prefix = f"{path}." if path else ""
        return [p for name, _ in modules[path].named_children()
                for p in callable_parts(prefix + name)]

    return frozenset(p for spec in specs for sel in spec.selectors
                     for path in resolve(sel, names, spec.span) for p in callable_parts(path))
