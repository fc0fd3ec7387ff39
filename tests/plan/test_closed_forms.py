"""The simulator reproduces the textbook closed forms on homogeneous chains.

p stages, m microbatches, forward f and backward b per stage, a message of c seconds between
neighbours (latency, or bandwidth time + overhead while it stays below f and b):
- GPipe: (m + p - 1)(f + b) + 2(p - 1)c: the fill and drain pay each hop once per direction.
- 1F1B with c = 0: (m + p - 1)(f + b), the same makespan as GPipe with peak inflight p - i at
  stage i instead of m (Narayanan et al., PipeDream-Flush, 2021).
- 1F1B with c > 0 (messages can start only as the strict 1F1B order issues them): as GPipe plus
  2c for each microbatch after the first except one in every p, where the warm-up slack absorbs
  the round trip: (m + p - 1)(f + b) + 2(p - 1)c + 2c((m - 1) - ceil((m - 1) / p)).
"""

from __future__ import annotations

import math

import pytest

from pgc.sim import lower_bound, simulate
from tests.plan.builders import chain, planned


def _gpipe(p: int, m: int, f: float, b: float, c: float) -> float:
    return (m + p - 1) * (f + b) + 2 * (p - 1) * c


def _1f1b(p: int, m: int, f: float, b: float, c: float) -> float:
    return _gpipe(p, m, f, b, c) + 2 * c * ((m - 1) - math.ceil((m - 1) / p))


GRID = [(p, m) for p in (1, 2, 3, 5, 8) for m in (1, 2, 3, 7, 8, 16)]


@pytest.mark.parametrize("p,m", GRID)
@pytest.mark.parametrize("f,ratio,c", [(1.0, 2.0, 0.0), (0.5, 1.5, 0.1), (2.0, 2.0, 0.7)])
def test_gpipe_makespan(p: int, m: int, f: float, ratio: float, c: float) -> None:
    program = planned(chain(p, m, f=f, backward=ratio, latency=c, schedule="gpipe"))
    result = simulate(program)
    assert result.pipeline_time == pytest.approx(_gpipe(p, m, f, ratio * f, c), abs=1e-9)
    assert set(result.peak_inflight.values()) == {m}


@pytest.mark.parametrize("p,m", GRID)
@pytest.mark.parametrize("f,ratio,c", [(1.0, 2.0, 0.0), (0.5, 1.5, 0.1), (1.0, 2.0, 2.5)])
def test_1f1b_makespan_and_peak_inflight(p: int, m: int, f: float, ratio: float, c: float) -> None:
    program = planned(chain(p, m, f=f, backward=ratio, latency=c, schedule="1f1b"))
    result = simulate(program)
    assert result.pipeline_time == pytest.approx(_1f1b(p, m, f, ratio * f, c), abs=1e-9)
    peaks = [result.peak_inflight[f"n{i}"] for i in range(p)]
    assert peaks == [min(p - i, m) for i in range(p)]


def test_bandwidth_and_overhead_count_as_message_time() -> None:
    # 1 MB over 10 MB/s = 0.1 s on the NIC, + 0.05 s overhead + 0.05 s latency = 0.2 s a hop
    program = chain(4, 8, nbytes=10**6, bandwidth=10**7, overhead=0.05, latency=0.05,
                    schedule="gpipe")
    result = simulate(planned(program))
    assert result.pipeline_time == pytest.approx(_gpipe(4, 8, 1.0, 2.0, 0.2))
    assert result.nic_busy["n1"] == pytest.approx(16 * 0.15)  # 8 forward + 8 gradient sends


def test_bound_is_tight_on_homogeneous_gpipe() -> None:
    # the compute bound of the last stage (min head + work + min tail) is exactly the makespan
    program = planned(chain(4, 8, latency=0.3, schedule="gpipe"))
    assert lower_bound(program).pipeline == pytest.approx(simulate(program).pipeline_time)
    assert lower_bound(program).component("compute") == pytest.approx(_gpipe(4, 8, 1, 2, 0.3))


def test_replicated_columns_run_as_independent_chains() -> None:
    program = planned(chain(3, 8, replicas=2, schedule="1f1b"))
    result = simulate(program)
    assert result.pipeline_time == pytest.approx(_1f1b(3, 4, 1.0, 2.0, 0.0))
    origins = {p.mb: p.origin for p in program.paths}
    assert [origins[m] for m in range(4)] == ["n0", "n1", "n0", "n1"]


def test_sim_result_accounts_busy_bubble_and_critical_path() -> None:
    program = planned(chain(3, 4, latency=0.5, schedule="gpipe"))
    r = simulate(program)
    assert r.busy["n0"] == pytest.approx(4 * 3.0)
    assert r.bubble("n0") == pytest.approx(r.pipeline_time - 12.0)
    assert r.idle("n2") == pytest.approx(r.iteration_time - 12.0)
    # the critical path starts at the first forward and its times never go backwards
    first = r.critical_path[0]
    assert r.describe(first) == "n0: F s0 m0"
    ends = [r.end[r.workers[w]][i] for w, i in r.critical_path]
    assert ends == sorted(ends) and ends[-1] == pytest.approx(r.iteration_time)
    kinds = {r.actions[r.workers[w]][i].kind for w, i in r.critical_path}
    assert {"F", "B", "SEND_F", "SEND_B"} <= kinds
    assert len(list(r.records())) == sum(len(a) for a in r.actions.values())
