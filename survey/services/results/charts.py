"""Charts drawn on the server as SVG: no script, no CDN, sharp when printed.

Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` (read by
screen readers) and is meant to sit next to a table of the same numbers. Colours are
dark enough for AA contrast and distinct in greyscale (marked units are drawn dashed
and hollow, not only in another colour). Presentation attributes only (no ``style``),
so the strict Content-Security-Policy holds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import count

from flask_babel import gettext as _
from markupsafe import Markup, escape

INK = "#1a1a1a"
MUTED = "#595959"
GRID = "#d0d0d0"
POINT = "#0b4f9c"
MARKED = "#9e1b1b"
_ids = count(1)


@dataclass(frozen=True)
class Interval:
    """One row of an interval plot: a label, the estimate and its interval; ``marked`` draws it hollow/dashed."""

    label: str
    estimate: float | None
    low: float | None
    high: float | None
    note: str = ""
    marked: bool = False


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _ticks(low: float, high: float, target: int = 6) -> list[float]:
    span = max(high - low, 1e-9)
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 10) for i in range(int((high - first) / step + 1e-9) + 1)]


def _range(values: list[float], floor: float | None = None, ceiling: float | None = None) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return (0.0, 100.0)
    low, high = min(finite), max(finite)
    pad = max((high - low) * 0.08, 1.0)
    low, high = low - pad, high + pad
    if floor is not None:
        low = max(low, floor)
    if ceiling is not None:
        high = min(high, ceiling)
    return (math.floor(low), math.ceil(high))


def _head(width: float, height: float, title: str, desc: str, kind: str) -> tuple[list[str], str]:
    uid = next(_ids)
    parts = [
        (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" role="img" aria-labelledby="chart-t{uid} chart-d{uid}" '
        f'font-family="sans-serif">'),
        f'<title id="chart-t{uid}">{escape(title)}</title><desc id="chart-d{uid}">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
    ]
    return parts, str(uid)


def interval_plot(rows: list[Interval], title: str, desc: str, axis_label: str,
                  lines: list[tuple[float, str]] | None = None, floor: float | None = 0.0,
                  ceiling: float | None = 100.0, compact: bool = False) -> Markup:
    """Horizontal confidence intervals, one row per unit in the given order, estimate as a dot.

    ``lines`` adds labelled vertical reference lines (e.g. the 达标 threshold). The wide
    layout puts each label left of its interval (office screens, print); ``compact`` puts
    it above the interval, so the chart stays legible at a phone's 360 px.
    """
    if compact:
        label_width, plot_width, value_width, row_height, top, bottom = 10.0, 262.0, 68.0, 44.0, 30.0, 44.0
    else:
        label_width, plot_width, value_width, row_height, top, bottom = 210.0, 460.0, 120.0, 26.0, 30.0, 44.0
    bar_offset = 10.0 if compact else 0.0  # the bar sits below the label in the compact layout
    width = label_width + plot_width + value_width
    height = top + bottom + row_height * max(len(rows), 1)
    values = [v for r in rows for v in (r.low, r.high, r.estimate)] + [v for v, _l in lines or []]
    low, high = _range(values, floor, ceiling)

    def x(value: float) -> float:
        return label_width + (value - low) / (high - low) * plot_width

    parts, _uid = _head(width, height, title, desc, "intervals-narrow" if compact else "intervals")
    axis_y = top + row_height * max(len(rows), 1)
    for tick in _ticks(low, high, 4 if compact else 6):
        parts.append(f'<line x1="{x(tick):.1f}" y1="{top - 6:.1f}" x2="{x(tick):.1f}" y2="{axis_y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{x(tick):.1f}" y="{axis_y + 16:.1f}" font-size="12" fill="{MUTED}" '
                     f'text-anchor="middle">{tick:g}</text>')
    parts.append(f'<text x="{label_width + plot_width / 2:.1f}" y="{axis_y + 34:.1f}" font-size="12" fill="{INK}" '
                 f'text-anchor="middle">{escape(axis_label)}</text>')
    for value, label in lines or []:
        if low <= value <= high:
            parts.append(f'<line x1="{x(value):.1f}" y1="{top - 12:.1f}" x2="{x(value):.1f}" y2="{axis_y:.1f}" '
                         f'stroke="{INK}" stroke-width="1.5" stroke-dasharray="6 3"/>')
            parts.append(f'<text x="{x(value) + 3:.1f}" y="{top - 14:.1f}" font-size="11" fill="{INK}">'
                         f'{escape(label)}</text>')
    for i, row in enumerate(rows):
        y = top + row_height * i + row_height / 2
        if i % 2 == 0:
            parts.append(f'<rect x="0" y="{y - row_height / 2:.1f}" width="{width:.0f}" height="{row_height:.0f}" '
                         f'fill="#f4f4f1"/>')
        if compact:
            label = row.label if len(row.label) <= 22 else row.label[:21] + "…"
            parts.append(f'<text x="{label_width:.1f}" y="{y - 6:.1f}" font-size="13" fill="{INK}" stroke="#ffffff" '
                         f'stroke-width="3" paint-order="stroke">{escape(label)}</text>')
        else:
            label = row.label if len(row.label) <= 14 else row.label[:13] + "…"
            parts.append(f'<text x="{label_width - 8:.1f}" y="{y + 4:.1f}" font-size="13" fill="{INK}" '
                         f'text-anchor="end">{escape(label)}</text>')
        y += bar_offset
        if row.estimate is None or not math.isfinite(row.estimate):
            parts.append(f'<text x="{label_width + 6:.1f}" y="{y + 4:.1f}" font-size="12" fill="{MUTED}">'
                         f'{escape(row.note or "—")}</text>')
            continue
        colour = MARKED if row.marked else POINT
        if row.low is not None and row.high is not None and math.isfinite(row.low) and math.isfinite(row.high):
            dash = ' stroke-dasharray="4 3"' if row.marked else ""
            lo, hi = max(row.low, low), min(row.high, high)
            parts.append(f'<line x1="{x(lo):.1f}" y1="{y:.1f}" x2="{x(hi):.1f}" y2="{y:.1f}" stroke="{colour}" '
                         f'stroke-width="3"{dash}/>')
            for end in (lo, hi):
                parts.append(f'<line x1="{x(end):.1f}" y1="{y - 6:.1f}" x2="{x(end):.1f}" y2="{y + 6:.1f}" '
                             f'stroke="{colour}" stroke-width="2"/>')
        fill = "#ffffff" if row.marked else colour
        parts.append(f'<circle cx="{x(min(max(row.estimate, low), high)):.1f}" cy="{y:.1f}" r="5" fill="{fill}" '
                     f'stroke="{colour}" stroke-width="2"/>')
        text = _fmt(row.estimate) + (f" {row.note}" if row.note else "")
        parts.append(f'<text x="{label_width + plot_width + 8:.1f}" y="{y + 4:.1f}" font-size="12" fill="{INK}">'
                     f'{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class TrendPoint:
    label: str
    estimate: float | None
    low: float | None
    high: float | None
    official: bool = True


def trend_plot(points: list[TrendPoint], title: str, desc: str, axis_label: str) -> Markup:
    """A unit's index over periods: dots joined by a line, each with its confidence interval."""
    left, right, top, bottom, plot_height = 56.0, 24.0, 20.0, 48.0, 200.0
    step = 110.0
    step = max(step, 360.0 / max(len(points), 1))  # room for the legend even with one period
    width = left + right + step * max(len(points), 1)
    height = top + plot_height + bottom
    values = [v for p in points for v in (p.low, p.high, p.estimate)]
    low, high = _range(values, 0.0, 100.0)

    def y(value: float) -> float:
        return top + plot_height - (value - low) / (high - low) * plot_height

    parts, _uid = _head(width, height, title, desc, "trend")
    for tick in _ticks(low, high, 5):
        parts.append(f'<line x1="{left:.1f}" y1="{y(tick):.1f}" x2="{width - right:.1f}" y2="{y(tick):.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{left - 6:.1f}" y="{y(tick) + 4:.1f}" font-size="12" fill="{MUTED}" '
                     f'text-anchor="end">{tick:g}</text>')
    parts.append(f'<text x="12" y="{top + plot_height / 2:.1f}" font-size="12" fill="{INK}" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + plot_height / 2:.1f})">{escape(axis_label)}</text>')
    previous = None
    for i, point in enumerate(points):
        cx = left + step * i + step / 2
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_height + 20:.1f}" font-size="12" fill="{INK}" '
                     f'text-anchor="middle">{escape(point.label)}</text>')
        if point.estimate is None or not math.isfinite(point.estimate):
            previous = None
            continue
        if point.low is not None and point.high is not None and math.isfinite(point.low) and math.isfinite(point.high):
            parts.append(f'<line x1="{cx:.1f}" y1="{y(max(point.low, low)):.1f}" x2="{cx:.1f}" '
                         f'y2="{y(min(point.high, high)):.1f}" stroke="{POINT}" stroke-width="3"/>')
        if previous is not None:
            parts.append(f'<line x1="{previous[0]:.1f}" y1="{previous[1]:.1f}" x2="{cx:.1f}" y2="{y(point.estimate):.1f}" '
                         f'stroke="{MUTED}" stroke-width="1.5" stroke-dasharray="5 3"/>')
        fill = POINT if point.official else "#ffffff"
        parts.append(f'<circle cx="{cx:.1f}" cy="{y(point.estimate):.1f}" r="5" fill="{fill}" stroke="{POINT}" '
                     f'stroke-width="2"/>')
        parts.append(f'<text x="{cx + 9:.1f}" y="{y(point.estimate) - 6:.1f}" font-size="12" fill="{INK}">'
                     f'{_fmt(point.estimate)}</text>')
        previous = (cx, y(point.estimate))
    legend = _("● 正式结果  ○ 草稿；竖线为置信区间")  # not inside the f-string: pybabel would not see it there
    parts.append(f'<text x="{left:.1f}" y="{height - 8:.1f}" font-size="11" fill="{MUTED}">{escape(legend)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
