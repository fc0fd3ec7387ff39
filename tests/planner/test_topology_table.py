"""The indexed link table equals `find_link` pair by pair (it replaced an O(W^2 L) loop)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pgc.ir.topology import find_link, link_table
from pgc.ir.types import Link, Worker
from tests.planner.scenarios import geo20

REGIONS = ["", "a", "b", "c"]
links = st.lists(st.builds(
    Link,
    scope=st.sampled_from(["pair", "region", "intra", "default"]),
    src=st.sampled_from(["w0", "w1", "w2", "a", "b", "c", ""]),
    dst=st.sampled_from(["w0", "w1", "w2", "a", "b", "c", ""]),
    latency=st.floats(0, 1), bandwidth=st.floats(1, 1e9), directed=st.booleans()), max_size=12)


@settings(max_examples=200, deadline=None)
@given(regions=st.lists(st.sampled_from(REGIONS), min_size=1, max_size=5), rules=links)
def test_link_table_matches_find_link(regions: list[str], rules: list[Link]) -> None:
    workers = tuple(Worker(f"w{i}", 1.0, 1.0, region=r) for i, r in enumerate(regions))
    prog = geo20()
    from dataclasses import replace

    prog = replace(prog, workers=workers, links=tuple(rules))
    table = link_table(prog)
    for a in workers:
        for b in workers:
            if a.name == b.name:
                continue
            link = find_link(prog.links, a, b)
            expected = None if link is None else (link.latency, link.bandwidth)
            assert table.get((a.name, b.name)) == expected
