"""The `traced` pass on a real model: capture, cut, profile, write the results into the IR."""

from __future__ import annotations

from dataclasses import replace

from pgc.capture.codegen import TensorSig, imports_located
from pgc.capture.cut import SegmentSpec, analyse
from pgc.capture.model import resolve_factory
from pgc.capture.profile import SegmentProfile, profile_cut
from pgc.capture.select import resolve
from pgc.capture.split import captured_model
from pgc.ir.types import AutoPartition, BlockProfile, Program, Segment


def expand_specs(program: Program, modules: dict[str, object]) -> list[SegmentSpec]:
    """The program's segments, with each automatic partition's range as one spec per block."""
    first_of = {p.stages[0]: p for p in program.partitions}
    auto = {s for p in program.partitions for s in p.stages}
    specs: list[SegmentSpec] = []
    for seg in program.segments:
        if seg.stage in first_of and not seg.selectors:
            part = first_of[seg.stage]
            specs += [SegmentSpec(path, (path,), part.span) for path in _blocks(part, modules)]
        elif not (seg.stage in auto and not seg.selectors):
            specs.append(SegmentSpec(seg.name, seg.selectors, seg.span))
    return specs


def _blocks(part: AutoPartition, modules: dict[str, object]) -> list[str]:
    return [p for sel in part.selectors for p in resolve(sel, modules, part.span)]


def _sig_text(sigs: tuple[TensorSig, ...]) -> tuple[str, ...]:
    """Boundary signatures as `float32[B, T, 64]` (names do not matter for legality)."""
    return tuple(s.text().partition(": ")[2] for s in sigs)


def _fill_segment(seg: Segment, prof: SegmentProfile) -> Segment:
    return replace(
        seg,
        layers=seg.layers or prof.layers,
        param_names=prof.param_names,
        params=prof.params,
        param_bytes=prof.param_bytes,
        flops=prof.flops,
        boundary_bytes=prof.boundary_bytes,
        activation_bytes=prof.activation_bytes,
        skippable=prof.skippable,
        boundary_in=_sig_text(prof.inputs),
        boundary_out=_sig_text(prof.outputs),
    )


def _block(prof: SegmentProfile) -> BlockProfile:
    sig_in = ", ".join(_sig_text(prof.inputs))
    sig_out = ", ".join(_sig_text(prof.outputs))
    return BlockProfile(
        selector=prof.name,
        param_names=prof.param_names,
        params=prof.params,
        param_bytes=prof.param_bytes,
        flops=prof.flops,
        boundary_bytes=prof.boundary_bytes,
        activation_bytes=prof.activation_bytes,
        signature=(sig_in, sig_out),
    )


def fill_from_model(program: Program) -> Program:
    _, source = resolve_factory(program.model, program.file)
    cap = captured_model(program.model, program.file, program.microbatch_size, program.seq_len)
    modules = dict(cap.model.named_modules())
    cut = analyse(cap, expand_specs(program, modules))
    with imports_located(program.model):
        profiles = {p.name: p for p in profile_cut(cut, source.module)}
    segments = tuple(
        _fill_segment(s, profiles[s.name]) if s.name in profiles else s for s in program.segments
    )
    partitions = tuple(
        replace(p, blocks=tuple(_block(profiles[b]) for b in _blocks(p, modules)))
        for p in program.partitions
    )
    model = replace(program.model, file=source.file, import_root=source.import_root)
    shared = tuple((name, segs) for name, segs in cut.shared.items())
    return replace(program, model=model, segments=segments, partitions=partitions,
                   shared_groups=shared)
