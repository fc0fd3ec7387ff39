"""Explicit paths against the skip and swap policies, checked against a brute-force oracle."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from pgc.diagnostics import UserError
from pgc.frontend.lower_place import check_policy
from pgc.ir.types import Hop, Path, Stage


def _valid_orders(visited: list[int], max_swaps: int) -> set[tuple[int, ...]]:
    """Every order of `visited` reachable from ascending order by at most `max_swaps`
    disjoint transpositions of neighbours that are consecutive stages (docs/design.md §4)."""
    base = sorted(visited)
    spots = [i for i in range(len(base) - 1) if base[i + 1] == base[i] + 1]
    out = set()
    for k in range(max_swaps + 1):
        for chosen in itertools.combinations(spots, k):
            if any(b - a < 2 for a, b in zip(chosen, chosen[1:])):
                continue  # overlapping swaps
            seq = list(base)
            for i in chosen:
                seq[i], seq[i + 1] = seq[i + 1], seq[i]
            out.add(tuple(seq))
    return out


@st.composite
def cases(draw: st.DrawFn) -> tuple[int, list[int], int, int, set[int]]:
    """Mostly near-valid paths: a sorted subset of the body stages with a few neighbour swaps
    (sometimes shuffled), the matching skip count (sometimes another)."""
    n = draw(st.integers(3, 7))
    body = sorted(draw(st.sets(st.integers(1, n - 1))))
    for i in draw(st.lists(st.integers(0, 5), max_size=3)):
        if i + 1 < len(body):
            body[i], body[i + 1] = body[i + 1], body[i]
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.permutations(body))
    skipped = draw(st.one_of(st.just(n - 1 - len(body)), st.integers(0, n - 2)))
    return n, list(body), max(0, skipped), draw(st.integers(0, 2)), draw(st.sets(st.integers(1, n - 1), max_size=2))


@settings(max_examples=400, deadline=None)
@given(cases())
def test_ring_path_policy_matches_the_oracle(case: tuple[int, list[int], int, int, set[int]]) -> None:
    n, body, skipped, max_swaps, never = case
    stages = [Stage("origin", ("origin.pro", "origin.epi"), never_skip=True)]
    stages += [Stage(f"s{i}", (f"s{i}",), never_skip=i in never) for i in range(1, n)]
    ratio = Fraction(skipped, n)
    hops = (Hop("origin.pro", "w0"), *(Hop(f"s{i}", f"w{i}") for i in body), Hop("origin.epi", "w0"))
    path = Path(0, "w0", hops)
    visited = [0, *body]
    expected = (
        len(visited) == n - skipped
        and never <= set(body)
        and tuple(visited) in _valid_orders(visited, max_swaps)
    )
    try:
        check_policy(path, stages, ratio, max_swaps)
        accepted = True
    except UserError:
        accepted = False
    assert accepted == expected, (body, skipped, max_swaps, never)
