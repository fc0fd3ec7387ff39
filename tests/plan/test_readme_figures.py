"""The README's geo-20 figures are what `pgc plan examples/skippipe_geo20.pgc` prints: the table
excerpt line for line, and every number of the sentence before it and the paragraph under it,
each traced to the example's output, its spec or the planner benchmark the paragraph cites (one
planning run, shared)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.conftest import ROOT, run_pgc

LEAD = "`pgc plan examples/skippipe_geo20.pgc` prints:"


@pytest.fixture(scope="module")
def geo20() -> tuple[str, dict[str, Any]]:
    """The example planned once, as the user runs it: the JSON report and its rendering."""
    from pgc.commands.plan import render

    done = run_pgc("plan", "examples/skippipe_geo20.pgc", "--json", timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    return render(report), report


def _readme_section() -> tuple[str, list[str], str]:
    """The sentence that leads to LEAD, the fenced table after it and the paragraph after that."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert LEAD in text, "the README no longer shows the geo-20 plan"
    before, after = text[:text.index(LEAD)], text[text.index(LEAD) + len(LEAD):]
    lead = before[before.rindex("\n\n") + 2:]
    block = re.search(r"```\n(.*?)\n```\n\n(.*?)\n\n", after, re.S)
    assert block is not None
    return " ".join(lead.split()), block.group(1).splitlines(), " ".join(block.group(2).split())


def test_readme_table_is_the_plan_output(geo20: tuple[str, dict[str, Any]]) -> None:
    out, _ = geo20
    _, lines, _ = _readme_section()
    printed = out.splitlines()
    assert lines[0] in printed, f"README table header not printed by pgc plan: {lines[0]!r}"
    start = printed.index(lines[0])
    assert lines == printed[start:printed.index("", start)], "README table is not pgc plan's"


def numbers(text: str) -> list[str]:
    """The figures a reader sees in `text`, as written (`4,900`, `0.34`); names that hold
    digits (1F1B, geo-20, file names in code spans) are not figures."""
    text = re.sub(r"`[^`]*[/.][a-z]+`|1F1B|geo-?20", " ", text)
    return re.findall(r"\d[\d,.]*\d|\d", text)


def _sources(report: dict[str, Any]) -> list[str]:
    """Every figure-bearing phrase the README's geo-20 text may hold, each made from where
    that figure comes from: the example's own output, the example's spec, or the recorded
    planner benchmark the paragraph cites."""
    from pgc.frontend import load_program

    rows = {r["schedule"]: r for r in report["schedules"]}
    skip, full, f1b, gpipe = (rows[k] for k in ("skippipe (spec)", "full (routed)", "1f1b",
                                                "gpipe"))

    def s(x: float) -> str:
        return f"{x:.4g} s"

    pipe = skip["pipeline_time"]
    regions = {w["region"] for stage in report["placement"] for w in stage["workers"]}
    spec_path = ROOT / "examples" / "skippipe_geo20.pgc"
    num, den = load_program(str(spec_path)).skip.ratio
    assert "a 1.5B LLaMA-style model" in spec_path.read_text()  # the example's own comment
    bench = ROOT / "bench" / "results"
    ratio = json.loads((bench / "planner_geo20.json").read_text())["ratio_skip_vs_dtfm_full"]
    search = re.search(r"\((\d+) seeds x ([\d,]+) trials\)",
                       (bench / "planner_geo20.md").read_text())
    assert search is not None
    return [
        f"({report['workers']} workers in {len(regions)} regions, 1.5B profile, "
        f"{num}/{den} skip;",
        f"takes {s(pipe)} against a lower bound of {s(skip['pipeline_lower_bound'])} "
        f"(gap {100 * skip['pipeline_gap']:.1f}%)",
        f"{pipe / full['pipeline_time']:.2f}x the full pipeline the router builds on the same "
        f"workers ({s(full['pipeline_time'])})",
        f"{pipe / f1b['pipeline_time']:.2f}x 1F1B ({s(f1b['pipeline_time'])})",
        f"GPipe would hold {gpipe['peak_inflight']} microbatches on a worker, over the spec's "
        f"`inflight = {report['inflight']}`",
        f"dominates the iteration ({s(skip['iteration_time'])})",
        f"the skip plan takes {ratio:.2f}x the pipeline time of DT-FM's full pipeline",
        f"{search.group(1)} seeds x {search.group(2)} trials)",
    ]


def test_readme_paragraph_numbers_are_the_plan_output(geo20: tuple[str, dict[str, Any]]) -> None:
    """Each sourced phrase is in the README's text, and every figure of the text is one of
    theirs, so a figure changed or added by hand fails here."""
    _, report = geo20
    lead, _, para = _readme_section()
    sources = _sources(report)
    text = lead + " " + para
    for phrase in sources:
        assert phrase in text, f"README geo-20 text lacks {phrase!r}"
    gpipe = next(r for r in report["schedules"] if r["schedule"] == "gpipe")
    assert not gpipe["within_inflight"] and report["objective"] == "pipeline"
    assert "`objective = pipeline`" in lead
    sourced = {n for phrase in sources for n in numbers(phrase)}
    for number in numbers(text):
        assert number in sourced, f"figure {number} in the README's geo-20 text has no source"
