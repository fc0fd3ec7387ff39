"""The README's geo-20 figures are what `pgc plan examples/skippipe_geo20.pgc` prints: the table
excerpt line for line, and every number of the paragraph under it (one planning run, shared)."""

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


def _readme_section() -> tuple[list[str], str]:
    """The fenced table after LEAD and the paragraph after it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert LEAD in text, "the README no longer shows the geo-20 plan"
    after = text[text.index(LEAD) + len(LEAD):]
    block = re.search(r"```\n(.*?)\n```\n\n(.*?)\n\n", after, re.S)
    assert block is not None
    return block.group(1).splitlines(), block.group(2)


def test_readme_table_is_the_plan_output(geo20: tuple[str, dict[str, Any]]) -> None:
    out, _ = geo20
    lines, _ = _readme_section()
    assert len(lines) == 6
    for line in lines:
        assert line in out.splitlines(), f"README line not printed by pgc plan: {line!r}"


def test_readme_paragraph_numbers_are_the_plan_output(geo20: tuple[str, dict[str, Any]]) -> None:
    _, report = geo20
    _, para = _readme_section()
    para = " ".join(para.split())
    rows = {r["schedule"]: r for r in report["schedules"]}
    skip, full, f1b, gpipe = (rows[k] for k in ("skippipe (spec)", "full (routed)", "1f1b",
                                                "gpipe"))

    def s(x: float) -> str:
        return f"{x:.4g} s"

    pipe = skip["pipeline_time"]
    expected = [
        f"takes {s(pipe)} against a lower bound of {s(skip['pipeline_lower_bound'])} "
        f"(gap {100 * skip['pipeline_gap']:.1f}%)",
        f"{pipe / full['pipeline_time']:.2f}x the full pipeline the router builds on the same "
        f"workers ({s(full['pipeline_time'])})",
        f"{pipe / f1b['pipeline_time']:.2f}x 1F1B ({s(f1b['pipeline_time'])})",
        f"GPipe would hold {gpipe['peak_inflight']} microbatches on a worker, over the spec's "
        f"`inflight = {report['inflight']}`",
        f"dominates the iteration ({s(skip['iteration_time'])})",
    ]
    for phrase in expected:
        assert phrase in para, f"README paragraph lacks {phrase!r}"
    assert not gpipe["within_inflight"] and report["objective"] == "pipeline"
    # every number in the paragraph is one of those checked above or a cited benchmark figure
    checked = " ".join(expected)
    cited = {"20", "12", "1.5", "1", "3", "0.34", "5", "4,900"}
    for number in re.findall(r"\d[\d,.]*\d|\d", para):
        assert number in checked or number in cited, f"unchecked figure {number} in the README"
