"""Two independent encodings of the published figures: the programs the planner's tests and
benchmarks build as IR (tests/planner/scenarios.py) and the example specs. Both must agree:
workers, regions, speeds, memory and the resolved link of every pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from pgc.capture.synthetic import fill
from pgc.diagnostics import UserError
from pgc.frontend import load_program
from pgc.ir.topology import link_table
from pgc.ir.types import Program
from pgc.sim.cost import cost_table
from tests.planner.scenarios import dtfm, geo20

ROOT = Path(__file__).resolve().parents[2]


def _same_topology(spec: Program, bench: Program) -> None:
    assert [(w.name, w.region, w.rate, w.memory) for w in spec.workers] == [
        (w.name, w.region, w.rate, w.memory) for w in bench.workers]
    got, want = link_table(spec), link_table(bench)
    assert got.keys() == want.keys()
    for pair, (latency, bandwidth) in want.items():
        assert got[pair][0] == pytest.approx(latency, abs=1e-9)
        assert got[pair][1] == pytest.approx(bandwidth, rel=1e-6)


def test_geo20_spec_matches_the_scenario() -> None:
    spec = load_program(str(ROOT / "examples" / "skippipe_geo20.pgc"))
    bench = geo20()
    _same_topology(spec, bench)
    assert (spec.skip.ratio, spec.swap.max_swaps, spec.inflight, spec.microbatches) == (
        bench.skip.ratio, bench.swap.max_swaps, bench.inflight, bench.microbatches)
    assert [s.replicas for s in spec.stages] == [s.replicas for s in bench.stages]
    # the boundary SkipPipe prices (fp16 2048 x 4096 per sample, 16.78 MB) via the spec's
    # `activation_dtype = fp16`, in both the synthetic profile and the pre-capture estimate
    assert spec.cost.activation_dtype == "fp16"
    filled = fill(spec)
    want = {s.name: s.boundary_bytes for s in bench.segments}
    for seg in filled.segments[:-1]:
        assert seg.boundary_bytes == pytest.approx(want[seg.name], rel=1e-3), seg.name
        assert cost_table(spec).seg_bytes[seg.name] == pytest.approx(want[seg.name], rel=1e-3)


@pytest.mark.parametrize("scenario", [1, 2, 3, 4, 5])
def test_dtfm_specs_match_the_scenarios(scenario: int, tmp_path: Path) -> None:
    text = (ROOT / "examples" / "dtfm_gpt3xl.pgc").read_text()
    text = text.replace('import "topologies/dtfm_c5.pgc"',
                        f'import "{ROOT}/examples/topologies/dtfm_c{scenario}.pgc"')
    spec_file = tmp_path / "dtfm.pgc"
    spec_file.write_text(text)
    _same_topology(load_program(str(spec_file)), dtfm(scenario))


@pytest.mark.parametrize("dtype,width", [("fp32", 4), ("bf16", 2), ("junk", None)])
def test_activation_dtype_prices_the_boundary(dtype: str, width: int | None,
                                              tmp_path: Path) -> None:
    text = (ROOT / "examples" / "skippipe_geo20.pgc").read_text()
    text = text.replace("activation_dtype = fp16", f"activation_dtype = {dtype}")
    text = text.replace('import "topologies/', f'import "{ROOT}/examples/topologies/')
    spec_file = tmp_path / "geo.pgc"
    spec_file.write_text(text)
    if width is None:
        with pytest.raises(UserError) as err:
            load_program(str(spec_file))
        message = err.value.diagnostics[0].message
        assert message == "unknown `activation_dtype` `junk`"
        assert err.value.diagnostics[0].span.line == text[:text.index("= junk")].count("\n") + 1
        return
    seg = fill(load_program(str(spec_file))).segments[0]
    assert seg.boundary_bytes == width * 2048 * 4096 * 2  # dim x seq x 2 samples
