"""Programs for the planner's tests and benchmarks, built directly as IR from published figures.

Figures: SkipPipe's 12-region geo cluster and 1.5B cost table (Blagoev et al., Gensyn 2025),
DT-FM's five 64-GPU scenarios and GPT3-XL (Yuan et al., NeurIPS 2022). They duplicate
examples/topologies/*.pgc on purpose: planner tests and benches do not go through the
frontend, and tests/planner/test_scenarios_match_specs.py checks the two encodings agree.
"""

from __future__ import annotations

from dataclasses import replace

from pgc.ir.types import (
    CostModel,
    Link,
    ModelRef,
    Program,
    Segment,
    SkipPolicy,
    Stage,
    SwapPolicy,
    Worker,
)

MBPS = 1e6 / 8  # bytes/s per Mbit/s
GBPS = 1e9 / 8
GIB = 2.0**30

GEO_REGIONS = ("AU", "BE", "CA", "DE", "IA", "JP", "LA", "NL", "OR", "SG", "TW", "UK")
# one-way ms / Mbps between SkipPipe's 12 GCP regions (SkipPipe, Gensyn 2025)
GEO_PAIRS = """AU-BE 129/84 AU-CA 98/113 AU-DE 125.5/90 AU-IA 84/96 AU-JP 58/118 AU-LA 69/126
AU-NL 128/82 AU-OR 68/126 AU-SG 48/256 AU-TW 67/180 AU-UK 132/81 BE-CA 41/171 BE-DE 4/2083
BE-IA 49/243 BE-JP 112/101 BE-LA 70/167 BE-NL 3/2083 BE-OR 66/179 BE-SG 83/138
BE-TW 105/107 BE-UK 3.5/2083 CA-DE 44/274 CA-IA 14/650 CA-JP 74/155 CA-LA 35/262
CA-NL 42/215 CA-OR 30.5/405 CA-SG 107/103 CA-TW 89/126 CA-UK 38.5/312 DE-IA 53.5/229
DE-JP 112/95 DE-LA 73/157 DE-NL 3.5/2083 DE-OR 68/128 DE-SG 80/107 DE-TW 102/108
DE-UK 6.6/1621 IA-JP 72.5/120 IA-LA 23.4/528 IA-NL 51/235 IA-OR 19.3/776 IA-SG 101.5/109
IA-TW 88/110 IA-UK 48.1/188 JP-LA 50/239 JP-NL 108.5/98 JP-OR 46.2/262 JP-SG 35.6/335
JP-TW 19.2/659 JP-UK 107/76 LA-NL 71.5/122 LA-OR 12.4/1018 LA-SG 79.5/145 LA-TW 64/139
LA-UK 68/128 NL-OR 67/175 NL-SG 81.5/141 NL-TW 105.5/103 NL-UK 4.8/2083 OR-SG 78.5/144
OR-TW 59.5/200 OR-UK 64/182 SG-TW 23.2/532 SG-UK 85/135 TW-UK 109.5/77"""

DTFM_REGIONS = ("Or", "Va", "Oh", "Tk", "Se", "Lo", "Fr", "Ie")
# one-way ms / Gbps between DT-FM's eight world regions (scenario 5)
DTFM_WORLD = """Or-Va 67/0.79 Or-Oh 49/1.10 Or-Tk 96/0.523 Or-Se 124/0.46 Or-Lo 136/0.42
Or-Fr 143/0.404 Or-Ie 124/0.482 Va-Oh 11/1.12 Va-Tk 143/0.524 Va-Se 172/0.500 Va-Lo 76/1.16
Va-Fr 90/1.02 Va-Ie 67/1.05 Oh-Tk 130/0.694 Oh-Se 159/0.529 Oh-Lo 86/1.05 Oh-Fr 99/0.799
Oh-Ie 77/1.14 Tk-Se 34/1.10 Tk-Lo 210/0.366 Tk-Fr 223/0.36 Tk-Ie 199/0.465 Se-Lo 238/0.342
Se-Fr 235/0.358 Se-Ie 228/0.335 Lo-Fr 14/1.14 Lo-Ie 12/1.09 Fr-Ie 24/1.08"""
DTFM_REGIONAL = "Va-Or 67/1.15 Va-Ca 59/1.05 Va-Oh 11/1.12 Or-Ca 12/1.25 Or-Oh 49/1.10 Ca-Oh 52/1.02"


def region_links(table: str, unit: float) -> tuple[Link, ...]:
    """Parse `A-B ms/bw` pairs into symmetric region links (bandwidth in `unit` bytes/s)."""
    tokens = table.split()
    links = []
    for pair, figures in zip(tokens[0::2], tokens[1::2]):
        a, b = pair.split("-")
        ms, bw = figures.split("/")
        links.append(Link("region", a, b, float(ms) / 1e3, float(bw) * unit))
    return tuple(links)


def pipeline_program(
    name: str,
    workers: tuple[Worker, ...],
    links: tuple[Link, ...],
    *,
    layout: str,
    replicas: tuple[int, ...],
    layers: tuple[int, ...],
    boundary: float,
    grad_bytes: float,
    cost: CostModel,
    microbatch_size: int,
    seq_len: int,
    microbatches: int,
    inflight: int,
    skip: tuple[int, int] = (0, 1),
    swaps: int = 0,
    schedule: str = "skippipe",
    flops_per_layer: float | None = None,
    head_flops: float | None = None,
) -> Program:
    """A Program with every stage placed `on auto`. Ring: stage `origin` (segments
    origin.pro with layers[0] and origin.epi) then s1..; chain: s0 (tokens in) .. s{S-1}
    (loss). `replicas[i]` workers hold stage i."""
    ring = layout == "ring"
    names = (["origin"] if ring else ["s0"]) + [f"s{i}" for i in range(1, len(layers))]
    segs: list[Segment] = []
    stages: list[Stage] = []
    for i, (stage, n_layers) in enumerate(zip(names, layers)):
        seg_name = "origin.pro" if ring and i == 0 else stage
        last = not ring and i == len(layers) - 1
        role = "prologue" if ring and i == 0 else ("first" if i == 0 else ("last" if last else "body"))
        flops = None if flops_per_layer is None else n_layers * flops_per_layer
        if last and flops is not None and head_flops is not None:
            flops += head_flops
        segs.append(Segment(seg_name, stage, role, layers=n_layers, params=int(grad_bytes // 2),
                            param_bytes=int(grad_bytes), flops=flops,
                            boundary_bytes=0 if last else int(boundary),
                            skippable=i > 0 and not last))
        seg_names = (seg_name, "origin.epi") if ring and i == 0 else (seg_name,)
        stages.append(Stage(stage, seg_names, replicas=replicas[i], never_skip=(i == 0 or last)))
    if ring:
        segs.append(Segment("origin.epi", "origin", "epilogue", layers=0, params=0, param_bytes=0,
                            flops=head_flops, boundary_bytes=0, skippable=False))
    return Program(
        file=f"<bench:{name}>", spec_hash=name, name=name,
        model=ModelRef("bench", "bench.planner:synthetic"),
        layout="ring" if ring else "chain",
        segments=tuple(segs), stages=tuple(stages), workers=workers, links=links,
        microbatch_size=microbatch_size, seq_len=seq_len, microbatches=microbatches,
        inflight=inflight,
        skip=SkipPolicy(skip, ("origin",) if ring else (names[0], names[-1])),
        swap=SwapPolicy(swaps), schedule=schedule,  # type: ignore[arg-type]
        cost=cost, auto_place=tuple(names),
    )


# ---- SkipPipe geo-20 -----------------------------------------------------------------------

SKIPPIPE_COST = CostModel(backward_ratio=1.5, message_overhead=0.35,
                          sec_per_sample_per_layer=0.055, loss_ratio=1.0)


def geo_workers(n: int, regions: tuple[str, ...] = GEO_REGIONS) -> tuple[Worker, ...]:
    """Worker i in region i mod len(regions) (SkipPipe's round-robin), equal speed."""
    return tuple(Worker(f"n{i}", 100e12, 80 * GIB, region=regions[i % len(regions)])
                 for i in range(n))


def geo20(skip: tuple[int, int] = (1, 3), swaps: int = 1) -> Program:
    """SkipPipe's geo case: 20 workers, ring [5,3,3,3,3,3], 1.5B profile (24 layers, 4 per
    stage, 2 x 4096-token samples, 16.78 MB boundary per sample, 268M bf16 params/stage),
    inflight 3, 6 microbatches per origin."""
    links = (Link("intra", "", "", 1e-3, 2 * GIB),) + region_links(GEO_PAIRS, MBPS)
    return pipeline_program(
        "skippipe_geo20", geo_workers(20), links, layout="ring",
        replicas=(5, 3, 3, 3, 3, 3), layers=(4, 4, 4, 4, 4, 4),
        boundary=2 * 16.78e6, grad_bytes=2 * 268e6, cost=SKIPPIPE_COST,
        microbatch_size=2, seq_len=4096, microbatches=30, inflight=3, skip=skip, swaps=swaps)


# ---- DT-FM ----------------------------------------------------------------------------------

V100 = 125e12
GPT3XL_H, GPT3XL_SEQ, GPT3XL_LAYERS = 2048, 2048, 24
GPT3XL_LAYER_FLOPS = GPT3XL_SEQ * (24 * GPT3XL_H**2 + 4 * GPT3XL_SEQ * GPT3XL_H)  # per sample
GPT3XL_BOUNDARY = 2.0 * GPT3XL_SEQ * GPT3XL_H  # fp16 activations per sample
GPT3XL_STAGE_GRADS = 2.0 * 3 * 12 * GPT3XL_H**2  # fp16, 3 layers per stage


def dtfm_topology(scenario: int) -> tuple[tuple[Worker, ...], tuple[Link, ...]]:
    """DT-FM's 64-V100 scenarios 1..5 (Yuan et al., NeurIPS 2022)."""
    def workers(regions: list[str], hosts: list[str] | None = None) -> tuple[Worker, ...]:
        return tuple(Worker(f"g{i}", V100, 16 * GIB, region=r, host=(hosts[i] if hosts else ""))
                     for i, r in enumerate(regions))

    if scenario in (1, 2):
        machines = [i // 8 for i in range(64)] if scenario == 1 else (
            [i // 4 for i in range(32)] + list(range(8, 40)))
        regions = [f"m{m}" for m in machines]
        inter = 3.125 if scenario == 1 else 1.25
        return workers(regions), (Link("default", "", "", 0.0, inter * GBPS),
                                  Link("intra", "", "", 0.0, 100 * GBPS))
    if scenario == 3:
        return workers(["Oh"] * 32 + ["Va"] * 32), (
            Link("intra", "", "", 1e-3, 5 * GBPS), Link("region", "Oh", "Va", 11e-3, 1.12 * GBPS))
    if scenario == 4:
        regions = [r for r in ("Va", "Or", "Ca", "Oh") for _ in range(16)]
        return workers(regions), (Link("intra", "", "", 5e-3, 2 * GBPS),) + region_links(
            DTFM_REGIONAL, GBPS)
    regions = [r for r in DTFM_REGIONS for _ in range(8)]
    return workers(regions), (Link("intra", "", "", 5e-3, 2 * GBPS),) + region_links(
        DTFM_WORLD, GBPS)


def dtfm(scenario: int, microbatches: int = 64) -> Program:
    """GPT3-XL on DT-FM scenario `scenario`: chain of 8 stages x 8 replicas, 3 layers each,
    microbatch 1 x 2048 tokens, fp16; full pipeline (no skip)."""
    workers, links = dtfm_topology(scenario)
    return pipeline_program(
        f"dtfm_c{scenario}", workers, links, layout="chain",
        replicas=(8,) * 8, layers=(3,) * 8, boundary=GPT3XL_BOUNDARY,
        grad_bytes=GPT3XL_STAGE_GRADS, cost=CostModel(backward_ratio=2.0, efficiency=0.5),
        microbatch_size=1, seq_len=GPT3XL_SEQ, microbatches=microbatches, inflight=8,
        schedule="skippipe", flops_per_layer=GPT3XL_LAYER_FLOPS)


# ---- heterogeneous world: 8 DT-FM regions x {H100, A100, RTX 4090, T4} ----------------------

GPUS = (("H100", 989e12, 80), ("A100", 312e12, 40), ("RTX4090", 165e12, 24), ("T4", 65e12, 16))


LLAMA8B_H, LLAMA8B_LAYERS, LLAMA8B_VOCAB = 4096, 32, 128256
LLAMA8B_LAYER_FLOPS = GPT3XL_SEQ * (24 * LLAMA8B_H**2 + 4 * GPT3XL_SEQ * LLAMA8B_H)  # per sample


def hetero_world(skip: tuple[int, int] = (1, 4), link_scale: float = 1.0) -> Program:
    """32 workers: each DT-FM world region holds one H100, A100, RTX 4090 and T4; an 8B-class
    model (h 4096, 32 layers, 4 per stage) as a ring of 8 stages x 4 replicas, microbatch
    4 x 2048 tokens, bf16 activations, so compute matters next to the network.
    `link_scale` multiplies every bandwidth (100: a compute-bound variant of the same world)."""
    workers = tuple(Worker(f"{r.lower()}_{g.lower()}", rate, mem * GIB, region=r)
                    for r in DTFM_REGIONS for g, rate, mem in GPUS)
    links = ((Link("intra", "", "", 5e-3, 2 * GBPS * link_scale),)
             + region_links(DTFM_WORLD, GBPS * link_scale))
    samples = 4
    return pipeline_program(
        "hetero_world32", workers, links, layout="ring",
        replicas=(4,) * 8, layers=(4,) * 8, boundary=samples * 2.0 * GPT3XL_SEQ * LLAMA8B_H,
        grad_bytes=2.0 * 4 * 12 * LLAMA8B_H**2, cost=CostModel(backward_ratio=2.0, efficiency=0.4),
        microbatch_size=samples, seq_len=GPT3XL_SEQ, microbatches=32, inflight=3, skip=skip,
        swaps=1, flops_per_layer=samples * LLAMA8B_LAYER_FLOPS,
        head_flops=samples * 2.0 * GPT3XL_SEQ * LLAMA8B_H * LLAMA8B_VOCAB)


def scaled_geo(n_workers: int, stages: int = 8, per_origin: int = 4) -> Program:
    """Scaling family: n workers round-robin over the 12 geo regions, ring of `stages` stages
    with n / stages replicas each (1.5B-like cost table), 1/4 skip."""
    reps = n_workers // stages
    base = geo20()
    links = base.links
    prog = pipeline_program(
        f"geo{n_workers}", geo_workers(n_workers), links, layout="ring",
        replicas=(reps,) * stages, layers=(3,) * stages, boundary=2 * 16.78e6,
        grad_bytes=2 * 200e6, cost=SKIPPIPE_COST, microbatch_size=2, seq_len=4096,
        microbatches=reps * per_origin, inflight=3, skip=(stages // 4, stages), swaps=1)
    return replace(prog, spec_hash=f"geo{n_workers}")

