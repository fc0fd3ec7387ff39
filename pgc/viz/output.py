"""Turning DOT text into files: the output format follows the file suffix; graphviz's `dot`
does svg, png and pdf. Without `dot` on PATH the DOT file is written and the user is told how
to install graphviz and finish the job by hand."""

from __future__ import annotations

import html
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from pgc.diagnostics import Diagnostic, UserError
from pgc.ir.types import NO_SPAN

DOT_FORMATS = (".svg", ".png", ".pdf")
INSTALL_HINT = (
    "install graphviz (Debian/Ubuntu: `apt-get install graphviz`, Fedora: `dnf install "
    "graphviz`, macOS: `brew install graphviz`, conda: `conda install -c conda-forge "
    "graphviz`)"
)


class DotMissing(UserError):
    """`dot` is not on PATH; the DOT text was written to `dot_file` instead."""

    def __init__(self, dot_file: Path, wanted: Path) -> None:
        fmt = wanted.suffix.lstrip(".")
        super().__init__(Diagnostic(
            NO_SPAN,
            f"graphviz's `dot` is not on PATH, so {wanted} was not made; wrote {dot_file}",
            hint=f"{INSTALL_HINT}, then run `dot -T{fmt} {dot_file} -o {wanted}`",
        ))
        self.dot_file = dot_file


def dot_binary() -> str | None:
    return shutil.which("dot")


@lru_cache(maxsize=16)
def run_dot(dot_text: str, fmt: str) -> bytes:
    """`dot -T<fmt>` of `dot_text`. Callers check `dot_binary()` first; a graphviz failure on
    DOT that pgc wrote is an internal error. Remembered for the last few pictures: `--what
    all` draws the graph, paths and timeline once more inside the report."""
    exe = dot_binary()
    if exe is None:
        raise FileNotFoundError("dot")
    done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


def inline_svgs(dot_texts: list[str]) -> list[str]:
    """SVG of each DOT text for embedding in HTML (no XML prolog or doctype). The `dot`
    processes run side by side: a report of a big plan draws three large pictures."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(dot_texts))) as pool:
        svgs = list(pool.map(lambda text: run_dot(text, "svg").decode(), dot_texts))
    return [svg[svg.index("<svg"):] for svg in svgs]


def write_picture(dot_text: str, out: Path, title: str) -> Path:
    """Write `dot_text` as `out` in the format its suffix names (.dot, .svg, .png, .pdf,
    .html). Raises DotMissing, after writing the .dot, when graphviz is needed but absent."""
    suffix = out.suffix.lower()
    if suffix == ".dot":
        out.write_text(dot_text, encoding="utf-8")
        return out
    if dot_binary() is None:
        dot_file = out.with_suffix(".dot")
        dot_file.write_text(dot_text, encoding="utf-8")
        raise DotMissing(dot_file, out)
    if suffix == ".html":
        svg = inline_svgs([dot_text])[0]
        out.write_text(page(title, f"<h1>{html.escape(title)}</h1>\n{svg}"), encoding="utf-8")
        return out
    out.write_bytes(run_dot(dot_text, suffix.lstrip(".")))
    return out


_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.pic{overflow:auto;border:1px solid #eee;margin:8px 0}.pic svg{height:auto;max-width:none}
.bar{background:#4e79a7;height:10px;display:inline-block}.over{background:#d62728}
.late{color:#d62728}.early{color:#2ca02c}.note{color:#666;font-size:13px}
pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:11px;max-height:400px}
"""


def page(title: str, body: str) -> str:
    """A self-contained HTML page (no external files, scripts or fonts)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}\n"
        "</body></html>\n"
    )

