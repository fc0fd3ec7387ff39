"""Colours and number formats shared by every picture, so one origin has one colour everywhere.

Origin colours follow Tableau 10 (Stone, "Tableau 10 colour palette", 2016), chosen because
its ten hues stay distinguishable for common colour-vision deficiencies; past ten origins the
hues repeat with a darker shade, so up to 30 origins stay distinct.
"""

from __future__ import annotations

from functools import cache

TABLEAU10 = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)

# Region fills are pale so that path colours drawn over them keep their contrast.
REGION_FILLS = (
    "#dbe8f5",
    "#fde5cc",
    "#f8d9d9",
    "#dcefed",
    "#dcecd8",
    "#faf1cf",
    "#ece0ea",
    "#ffe6e9",
    "#e9ddd5",
    "#eeeae8",
    "#e0e0f8",
    "#e6f5c9",
)

KIND_COLOURS = {
    "SEND_F": "#9aa5b1",
    "SEND_B": "#6c7a89",
    "RECV_F": "#d5dbe1",
    "RECV_B": "#c2cad3",
    "ALLREDUCE": "#8e6bbf",
    "STEP": "#2f3b46",
}
CRITICAL = "#d62728"
SKIP_EDGE = "#e08214"
SWAP_EDGE = "#c51b7d"
DP_EDGE = "#8e6bbf"


def _shade(hex_colour: str, factor: float) -> str:
    """Scale an `#rrggbb` colour toward black (factor < 1) or white (factor > 1)."""
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    if factor <= 1:
        out = [round(c * factor) for c in rgb]
    else:
        t = factor - 1.0
        out = [round(c + (255 - c) * t) for c in rgb]
    return "#" + "".join(f"{max(0, min(255, c)):02x}" for c in out)


@cache
def origin_colour(index: int) -> str:
    """The colour of the `index`-th origin (`pgc.ir.queries.origins` numbers them)."""
    base = TABLEAU10[index % len(TABLEAU10)]
    round_ = (index // len(TABLEAU10)) % 3
    return _shade(base, (1.0, 0.7, 0.5)[round_])


@cache
def forward_colour(origin_index: int) -> str:
    """Forward work is drawn as a light tint of the origin colour, backward in the full colour."""
    return _shade(origin_colour(origin_index), 1.55)


def region_fill(index: int) -> str:
    return REGION_FILLS[index % len(REGION_FILLS)]


def fmt_seconds(s: float) -> str:
    """`0.000120` -> `120 us`, `0.02` -> `20 ms`, `3.5` -> `3.5 s`."""
    a = abs(s)
    if a == 0:
        return "0 s"
    if a < 1e-3:
        return f"{s * 1e6:.3g} us"
    if a < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.4g} s"


def _scaled(x: float, units: tuple[str, ...], step: float) -> str:
    i = 0
    while abs(x) >= step and i < len(units) - 1:
        x /= step
        i += 1
    return f"{x:.3g} {units[i]}"


def fmt_bytes(n: float) -> str:
    """Binary units, as the spec language writes memory: `16.8 MiB`."""
    return _scaled(n, ("B", "KiB", "MiB", "GiB", "TiB"), 1024.0)


def fmt_bandwidth(bytes_per_s: float) -> str:
    """Links are quoted in bits per second by every provider, so show them that way."""
    return _scaled(bytes_per_s * 8, ("bps", "Kbps", "Mbps", "Gbps", "Tbps"), 1000.0)


def fmt_rate(flops: float) -> str:
    return _scaled(flops, ("FLOPS", "KFLOPS", "MFLOPS", "GFLOPS", "TFLOPS", "PFLOPS"), 1000.0)
