#!/usr/bin/env python3
"""bench/plot.py: draws a bench/run report (PREFIX.json) as an SVG next to it.

    bench/plot.py bench/report.json            # writes bench/report.svg

Two panels: throughput per scenario (records/s, one bar each, with issue 5's target
as a tick and the librdkafka mock broker as a dashed line), and end-to-end latency
percentiles against their targets. Standard library only, so it runs wherever
bench/run does.
"""

import json
import sys
from pathlib import Path
from xml.sax.saxutils import escape

# (scenario, label, target records/s or None)
THROUGHPUT = [
    ("mock", "mock broker (librdkafka, newest 5 MB in memory)", None),
    ("produce", "produce, 1 partition (Rust tool)", 4_000_000),
    ("produce_c", "produce, 1 partition (C tool)", 4_000_000),
    ("produce_c_drop_behind", "produce, 1 partition (C tool), {variant}", 4_000_000),
    ("replicated", "produce acks=all, 3 brokers RF 3", 1_500_000),
    ("replicated_drop_behind", "produce acks=all, 3 brokers RF 3, {variant}", 1_500_000),
    ("consume", "consume (Rust tool)", 5_000_000),
    ("consume_c", "consume (C tool)", 5_000_000),
    ("spread", "1,000 partitions (Rust tool)", 2_000_000),
    ("spread_c", "1,000 partitions (C tool)", 2_000_000),
]
# (percentile key, label, target ms or None)
LATENCY = [
    ("p50_ms", "p50", 1.0),
    ("p95_ms", "p95", None),
    ("p99_ms", "p99", 2.0),
    ("p999_ms", "p99.9", None),
]

WIDTH = 900
LABEL_W = 260
BAR_H = 22
GAP = 8
MARGIN = 20
BAR_COLOR = "#3b7dd8"
MISS_COLOR = "#d8863b"


def text(x, y, s, anchor="start", size=12, weight="normal"):
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-family="sans-serif" font-size="{size}" '
            f'text-anchor="{anchor}" font-weight="{weight}">{escape(s)}</text>')


def fmt_rate(v):
    return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.0f} k/s"


def panel(title, rows, top, unit_max, fmt, baseline=None):
    """rows: (label, value, target); bars scaled to unit_max. Returns (svg parts, height)."""
    parts = [text(MARGIN, top + 16, title, size=14, weight="bold")]
    y = top + 30
    plot_w = WIDTH - LABEL_W - 2 * MARGIN - 90
    x0 = MARGIN + LABEL_W

    def scale(v):
        return x0 + plot_w * min(v, unit_max) / unit_max

    for label, value, target in rows:
        parts.append(text(x0 - 8, y + BAR_H * 0.7, label, anchor="end"))
        met = target is None or (value <= target if title.startswith("End-to-end") else value >= target)
        color = BAR_COLOR if met else MISS_COLOR
        parts.append(f'<rect x="{x0}" y="{y}" width="{scale(value) - x0:.1f}" height="{BAR_H}" fill="{color}"/>')
        parts.append(text(scale(value) + 6, y + BAR_H * 0.7, fmt(value)))
        if target is not None:
            tx = scale(target)
            parts.append(f'<line x1="{tx:.1f}" y1="{y - 3}" x2="{tx:.1f}" y2="{y + BAR_H + 3}" stroke="#222" stroke-width="2"/>')
        y += BAR_H + GAP
    if baseline is not None:
        bx = scale(baseline)
        parts.append(f'<line x1="{bx:.1f}" y1="{top + 26}" x2="{bx:.1f}" y2="{y}" stroke="#555" stroke-dasharray="4,3"/>')
    return parts, y - top


def main(argv):
    if len(argv) != 2 or not argv[1].endswith(".json"):
        print("usage: bench/plot.py PREFIX.json (writes PREFIX.svg)", file=sys.stderr)
        return 2
    path = Path(argv[1])
    report = json.loads(path.read_text())
    scenarios = report.get("scenarios", {})

    def median(name, key):
        return (scenarios.get(name) or {}).get("median", {}).get(key)

    # The *_drop_behind rows ran with the broker config drop_behind_setting (bench/run).
    setting = report.get("settings", {}).get("drop_behind_setting", "")
    variant = "cache kept" if setting.endswith("=0") else "drop-behind"
    parts = []
    top = MARGIN
    rows = [(label.format(variant=variant), median(name, "records_per_sec"), target) for name, label, target in THROUGHPUT]
    rows = [r for r in rows if r[1] is not None]
    if rows:
        peak = max(max(v, t or 0) for _, v, t in rows)
        drawn, height = panel("Throughput, 100-byte records (bar: median; tick: target; dashed: mock broker)",
                              rows, top, peak * 1.05, fmt_rate, baseline=median("mock", "records_per_sec"))
        parts += drawn
        top += height + 2 * MARGIN
    lat = [(label, median("e2e", key), target) for key, label, target in LATENCY]
    lat = [r for r in lat if r[1] is not None]
    if lat:
        peak = max(max(v, t or 0) for _, v, t in lat)
        drawn, height = panel("End-to-end latency at 10,000 records/s of 1 KiB, acks=all (ms; tick: target)",
                              lat, top, peak * 1.05, lambda v: f"{v:.2f} ms")
        parts += drawn
        top += height + MARGIN
    if not parts:
        print(f"bench/plot.py: {path} has no throughput or latency results to draw", file=sys.stderr)
        return 1
    machine = report.get("machine", {})
    caption = (f"{machine.get('cores', '?')} cores, commit {machine.get('commit', '?')}, {machine.get('date', '?')}; "
               "orange: target not met")
    parts.append(text(MARGIN, top + 4, caption, size=11))
    height = top + MARGIN
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">'
           f'<rect width="100%" height="100%" fill="white"/>' + "".join(parts) + "</svg>\n")
    out = path.with_suffix(".svg")
    out.write_text(svg)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
