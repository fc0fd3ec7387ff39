"""The planner's search budget: predicted work decides where a search stops; the guard against a
slow machine counts the search's own CPU time, so a machine busy with other programs (wall
clock running, this search waiting) plans exactly as an idle one."""

from __future__ import annotations

import io
import time

from pgc.planner.search import CAP, Search


def _burn(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_waiting_on_a_busy_machine_never_cuts_a_search() -> None:
    search = Search("place", 0.01, out=io.StringIO())
    time.sleep(CAP * 0.01 + 0.05)  # the wall clock runs past the cap, the search's CPU does not
    assert not search.out_of_time() and not search.capped
    search.charge(0.01)
    assert search.out_of_time() and not search.capped  # the budget of predicted work ends it


def test_a_slow_machine_hits_the_cpu_cap_and_says_so() -> None:
    search = Search("route", 0.01, out=io.StringIO())
    _burn(CAP * 0.01 + 0.02)
    assert search.out_of_time() and search.capped
    assert any("CPU-time cap hit" in n and "may differ between runs" in n for n in search.notes)
    search.extend(0.01)  # more work from here: the cap counts from the work already done
    assert search.cpu() < CAP * search.budget_s
