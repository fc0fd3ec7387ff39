"""How a group's uncompressed sum travels (`sync { exchange }`): the direct exchange's price on
a hand-checked case, the choice `auto` makes on equal and unequal links, and a compiled plan
whose buckets carry the shares the runtime accepts, with the predicted exchange time a
rehearsal pads to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_pgc

from pgc.runtime.plan import load_plan
from pgc.runtime.rules import shares_problem
from pgc.sim.cost import direct_exchange_seconds, group_exchange

INF = float("inf")
MBIT = 1e6 / 8
# three regions whose links differ (Mbit/s): IA-DE 229, DE-CA 274, CA-IA 650
UNEQUAL_BW = ((INF, 229 * MBIT, 650 * MBIT), (229 * MBIT, INF, 274 * MBIT),
              (650 * MBIT, 274 * MBIT, INF))
UNEQUAL_LAT = ((0.0, 0.0535, 0.014), (0.0535, 0.0, 0.044), (0.014, 0.044, 0.0))


def test_direct_exchange_price_by_hand() -> None:
    # two members, 100 B at 100 B/s, 0.1 s latency: 50 B out (0.5 s), arrives at 0.6 s; the sum
    # goes back from 0.6 s, sent by 1.1 s, arrives at 1.2 s
    lat, bw = ((0.0, 0.1), (0.1, 0.0)), ((INF, 100.0), (100.0, INF))
    assert direct_exchange_seconds((0.5, 0.5), lat, bw, 0.0, 100.0) == pytest.approx(1.2)
    # one member owning everything: only the other's 100 B go out and come back
    assert direct_exchange_seconds((1.0, 0.0), lat, bw, 0.0, 100.0) == pytest.approx(2.2)
    # equal links: the ring is as fast (2 (n-1) steps of 50 B), so `auto` keeps the ring
    ring = group_exchange(lat, bw, 0.0, 100.0, "auto")
    assert (ring.kind, ring.seconds) == ("ring", pytest.approx(1.2))
    forced = group_exchange(lat, bw, 0.0, 100.0, "direct")
    assert forced.kind == "direct" and forced.shares == pytest.approx((0.5, 0.5))


def test_auto_takes_weighted_shares_on_unequal_links() -> None:
    nbytes = 536e6
    ring = group_exchange(UNEQUAL_LAT, UNEQUAL_BW, 0.35, nbytes, "ring")
    auto = group_exchange(UNEQUAL_LAT, UNEQUAL_BW, 0.35, nbytes, "auto")
    equal = direct_exchange_seconds((1 / 3,) * 3, UNEQUAL_LAT, UNEQUAL_BW, 0.35, nbytes)
    assert auto.kind == "direct" and sum(auto.shares) == pytest.approx(1.0)
    assert auto.seconds == pytest.approx(direct_exchange_seconds(
        auto.shares, UNEQUAL_LAT, UNEQUAL_BW, 0.35, nbytes))
    assert auto.seconds < 0.85 * ring.seconds and auto.seconds < 0.95 * equal
    # the member on both slow links (DE) owns the least, the one on both fast ones (CA) the most
    assert auto.shares[1] < auto.shares[0] < auto.shares[2]
    assert group_exchange(UNEQUAL_LAT, UNEQUAL_BW, 0.35, 0.0, "auto").kind == "ring"


SPEC = """node a {{ rate = 50 GFLOPS; memory = 4 GiB; region = "IA" }}
node b {{ rate = 50 GFLOPS; memory = 4 GiB; region = "DE" }}
node c {{ rate = 50 GFLOPS; memory = 4 GiB; region = "CA" }}
node d {{ rate = 50 GFLOPS; memory = 4 GiB; region = "CA" }}
link intra {{ latency = 1 ms; bandwidth = 1 GiB/s }}
link region IA <-> DE {{ latency = 50 ms; bandwidth = 20 Mbps }}
link region DE <-> CA {{ latency = 40 ms; bandwidth = 30 Mbps }}
link region IA <-> CA {{ latency = 15 ms; bandwidth = 200 Mbps }}
model m = "examples.models.llama:build" {{ vocab = 64, dim = 16, layers = 4, heads = 2, kv_heads = 1, max_seq = 16 }}
pipeline p {{
  layout = chain
  stages s[0..1] = [[embed, layers[0:2]], [layers[2:4], norm, head]]
  place s0 on [a, b, c]
  place s1 on [d]
  microbatch {{ size = 1; seq = 8; count = 3 }}
  sync {{ exchange = {exchange} }}
}}
"""


@pytest.mark.parametrize("exchange", ["auto", "ring"])
def test_compiled_plan_carries_shares_the_runtime_accepts(tmp_path: Path, exchange: str) -> None:
    spec = tmp_path / "spec.pgc"
    spec.write_text(SPEC.format(exchange=exchange), encoding="utf-8")
    out = tmp_path / "out"
    done = run_pgc("compile", str(spec), "-o", str(out))
    assert done.returncode == 0, done.stderr
    raw = json.loads((out / "plan.json").read_text())
    bucket = next(b for b in raw["runtime"]["buckets"] if b["name"] == "s0")
    plan = run_pgc("plan", str(spec), "--json")
    assert plan.returncode == 0, plan.stderr
    group = json.loads(plan.stdout)["sync"]["bytes_per_sync"]["s0"]
    if exchange == "ring":
        assert "shares" not in bucket and group["exchange"] == "ring"
        return
    assert group["exchange"] == "direct" and bucket["shares"] == group["shares"]
    assert shares_problem(bucket["shares"], bucket["workers"]) is None
    assert raw["runtime"]["allreduce_times"]["s0"] == pytest.approx(group["seconds"])
    loaded = load_plan(out / "plan.json")
    held = next(b for b in loaded.buckets if b.name == "s0")
    assert held.shares is not None and sum(held.shares) == pytest.approx(1.0)


def test_share_search_prices_moves_alike_with_and_without_numpy(monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    """The planner prices a pass's moves in one numpy call, drawing a plan prices them one by
    one: the same shares and seconds, bit for bit, on unequal links of 2 to 9 members (some
    moves empty a member's share)."""
    import random

    import numpy  # noqa: F401  (loaded, as in the planner)

    from pgc.sim import cost

    rng = random.Random(7)
    cases = []
    for n in (2, 3, 5, 9):
        lat = tuple(tuple(0.0 if i == j else rng.choice([1e-3, 0.04, 0.12]) for j in range(n))
                    for i in range(n))
        bw = tuple(tuple(INF if i == j else rng.choice([20, 110, 274, 2083]) * MBIT
                         for j in range(n)) for i in range(n))
        cases.append((lat, bw, rng.choice([0.0, 1e-4]), rng.choice([1e6, 536e6])))
    batched = [cost.direct_shares(*c) for c in cases]
    assert cost._batch_pricer(*cases[0]) is not None  # numpy is loaded here
    monkeypatch.setattr(cost, "_batch_pricer", lambda *args: None)
    assert [cost.direct_shares(*c) for c in cases] == batched
    assert any(0.0 in shares for shares, _ in batched)
