"""Inline SVG plots for the comparison report: no script, no stylesheet, no font to fetch.

    from ossrag.evaluation.report_svg import svg_bars, svg_scatter

    svg_scatter([{"x": 1.2, "y": 0.8, "color": "gpt-oss-20b", "shape": "low",
                  "label": "gpt-oss-20b (low): accuracy 80%"}],
                title="Accuracy vs median latency", x_label="median latency (s)", y_label="accuracy")
    svg_bars([("gpt-oss-20b", [("low", 120.0), ("high", 940.0)])],
             title="Reasoning tokens by effort", y_label="mean reasoning tokens")

Both return one ``<svg>`` element as a string; the CSS classes they use
(``title``, ``tick``, ``axis``, ``grid``, ``frame``, ``empty``, ``note``) are
styled by :mod:`ossrag.evaluation.report`.  Colour is the series (model), the
marker shape or bar colour the effort.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

__all__ = ["svg_bars", "svg_scatter"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    out = [round(first, 10)]
    while out[-1] < hi - step * 1e-9:  # the last tick reaches hi, so nothing is drawn off the axis
        out.append(round(out[-1] + step, 10))
    return out


def _tick_label(v: float, fmt: str) -> str:
    if fmt == "pct":
        return f"{100 * v:.0f}%"
    if fmt == "usd":
        return f"${v:.4g}"
    return f"{v:.4g}"


def _marker(shape: int, x: float, y: float, color: str, title: str) -> str:
    t = f"<title>{html.escape(title)}</title>"
    if shape == 1:
        return f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="{color}">{t}</rect>'
    if shape == 2:
        pts = f"{x:.1f},{y - 6:.1f} {x - 6:.1f},{y + 5:.1f} {x + 6:.1f},{y + 5:.1f}"
        return f'<polygon points="{pts}" fill="{color}">{t}</polygon>'
    if shape == 3:
        pts = f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y:.1f} {x:.1f},{y + 6:.1f} {x - 6:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{color}">{t}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{color}">{t}</circle>'


def svg_scatter(
    points: Sequence[dict[str, Any]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_fmt: str = "num",
    y_fmt: str = "pct",
    note: str = "",
) -> str:
    """A scatter plot; each point has x, y, color (series key), shape (legend key) and label."""
    w, h, left, right, top, bottom = 640, 360, 64, 220, 34, 52
    pw, ph = w - left - right, h - top - bottom
    xs = [p["x"] for p in points]
    x_hi = max(xs, default=0.0) * 1.1 or 1.0
    xt = _ticks(0.0, x_hi, 4)
    yt = (
        _ticks(0.0, 1.0)
        if y_fmt == "pct"
        else _ticks(0.0, max((p["y"] for p in points), default=1.0) * 1.1)
    )
    x_max, y_max = xt[-1], yt[-1]

    def px(v: float) -> float:
        return left + pw * v / x_max

    def py(v: float) -> float:
        return top + ph - ph * v / y_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{w / 2 - right / 2:.0f}" y="20" class="title" text-anchor="middle">{html.escape(title)}</text>',
    ]
    for t in xt:
        parts.append(
            f'<line x1="{px(t):.1f}" y1="{top}" x2="{px(t):.1f}" y2="{top + ph}" class="grid"/>'
            f'<text x="{px(t):.1f}" y="{top + ph + 16}" text-anchor="middle" class="tick">'
            f"{_tick_label(t, x_fmt)}</text>"
        )
    for t in yt:
        parts.append(
            f'<line x1="{left}" y1="{py(t):.1f}" x2="{left + pw}" y2="{py(t):.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" class="tick">'
            f"{_tick_label(t, y_fmt)}</text>"
        )
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append(
        f'<text x="{left + pw / 2:.0f}" y="{h - 10}" text-anchor="middle" class="axis">'
        f"{html.escape(x_label)}</text>"
    )
    parts.append(
        f'<text transform="translate(16 {top + ph / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'class="axis">{html.escape(y_label)}</text>'
    )
    colors: dict[str, str] = {}
    shapes: dict[str, int] = {}
    for p in points:
        c = colors.setdefault(p["color"], _PALETTE[len(colors) % len(_PALETTE)])
        s = shapes.setdefault(p["shape"], len(shapes) % 4)
        parts.append(_marker(s, px(p["x"]), py(p["y"]), c, p["label"]))
    if not points:
        parts.append(
            f'<text x="{left + pw / 2:.0f}" y="{top + ph / 2:.0f}" text-anchor="middle" '
            f'class="empty">{html.escape(note or "no data")}</text>'
        )
    parts += _scatter_legend(colors, shapes, left + pw + 14, top + 6)
    parts.append("</svg>")
    return "".join(parts)


def _scatter_legend(
    colors: dict[str, str], shapes: dict[str, int], lx: float, ly: float
) -> list[str]:
    """The scatter plot's legend at (lx, ly): colour = model, marker = effort."""
    parts = [f'<g class="legend"><text x="{lx}" y="{ly}" class="axis">model</text>']
    for i, (name, c) in enumerate(colors.items()):
        y = ly + 16 * (i + 1)
        parts.append(
            f'<circle cx="{lx + 5}" cy="{y - 4}" r="5" fill="{c}"/>'
            f'<text x="{lx + 14}" y="{y}" class="tick">{html.escape(_short(name, 32))}</text>'
        )
    ly += 16 * (len(colors) + 2)
    parts.append(f'<text x="{lx}" y="{ly}" class="axis">effort</text>')
    for i, (name, s) in enumerate(shapes.items()):
        y = ly + 16 * (i + 1)
        parts.append(
            _marker(s, lx + 5, y - 4, "#555", name)
            + f'<text x="{lx + 14}" y="{y}" class="tick">{html.escape(name)}</text>'
        )
    parts.append("</g>")
    return parts


def svg_bars(
    groups: Sequence[tuple[str, Sequence[tuple[str, float | None]]]],
    *,
    title: str,
    y_label: str,
    note: str = "",
) -> str:
    """Grouped bars: ``groups`` = [(model, [(effort, value), ...]), ...]; None values are skipped."""
    w, h, left, right, top, bottom = 640, 360, 64, 220, 34, 70
    pw, ph = w - left - right, h - top - bottom
    values = [v for _, bars in groups for _, v in bars if v is not None]
    yt = _ticks(0.0, max(values, default=1.0) * 1.1 or 1.0)
    y_max = yt[-1]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" role="img" aria-label="{html.escape(title)}">',
        f'<text x="{w / 2 - right / 2:.0f}" y="20" class="title" text-anchor="middle">{html.escape(title)}</text>',
    ]
    for t in yt:
        y = top + ph - ph * t / y_max
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{t:.4g}</text>'
        )
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>')
    parts.append(
        f'<text transform="translate(16 {top + ph / 2:.0f}) rotate(-90)" text-anchor="middle" '
        f'class="axis">{html.escape(y_label)}</text>'
    )
    efforts: dict[str, str] = {}
    for _, bars in groups:
        for e, _v in bars:
            efforts.setdefault(e, _PALETTE[len(efforts) % len(_PALETTE)])
    gw = pw / max(1, len(groups))
    for gi, (model, bars) in enumerate(groups):
        bw = min(36.0, (gw - 12) / max(1, len(bars)))
        x0 = left + gi * gw + (gw - bw * len(bars)) / 2
        for bi, (e, v) in enumerate(bars):
            if v is None:
                continue
            bh = ph * v / y_max
            parts.append(
                f'<rect x="{x0 + bi * bw:.1f}" y="{top + ph - bh:.1f}" width="{bw - 2:.1f}" '
                f'height="{bh:.1f}" fill="{efforts[e]}"><title>{html.escape(f"{model} {e}: {v:,.0f}")}'
                "</title></rect>"
            )
        parts.append(
            f'<text x="{left + gi * gw + gw / 2:.1f}" y="{top + ph + 16}" text-anchor="middle" '
            f'class="tick">{html.escape(_short(model, max(6, int(gw / 6.5))))}</text>'
        )
        if values and all(v is None for _, v in bars):
            parts.append(
                f'<text x="{left + gi * gw + gw / 2:.1f}" y="{top + ph - 6}" text-anchor="middle" '
                'class="note">not reported</text>'
            )
    parts.append(
        f'<text x="{left + pw / 2:.0f}" y="{h - 12}" text-anchor="middle" class="axis">model</text>'
    )
    if not values:
        parts.append(
            f'<text x="{left + pw / 2:.0f}" y="{top + ph / 2:.0f}" text-anchor="middle" '
            f'class="empty">{html.escape(note or "no data")}</text>'
        )
    lx, ly = left + pw + 14, top + 6
    parts.append(f'<g class="legend"><text x="{lx}" y="{ly}" class="axis">effort</text>')
    for i, (e, c) in enumerate(efforts.items()):
        y = ly + 16 * (i + 1)
        parts.append(
            f'<rect x="{lx}" y="{y - 9}" width="10" height="10" fill="{c}"/>'
            f'<text x="{lx + 14}" y="{y}" class="tick">{html.escape(e)}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _short(text: str, n: int = 24) -> str:
    return text if len(text) <= n else "…" + text[-(n - 1) :]
