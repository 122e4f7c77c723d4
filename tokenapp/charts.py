"""Charts as inline SVG, drawn here: no script, no CDN, nothing the CSP refuses.

Pure functions from numbers to markup. Every text is escaped; colours are SVG
presentation attributes (fill, stroke), which the CSP's style-src does not
govern, so no style attribute is ever written.
"""

import datetime
from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH = 720
HEIGHT = 180
LEFT = 44  # room for the y-axis labels
BOTTOM = 22  # room for the x-axis labels
TOP = 10
BAR = "#1d4ed8"
GRID = "#d1d5db"
TEXT = "#4b5563"
DAY_LABEL = 40  # width of "Nov 27" at font-size 11, with a little room


def hourly_chart(hours: Sequence[tuple[datetime.datetime, int]], title: str) -> Markup:
    """A bar per hour, the days marked under the axis; `title` names it for screen readers."""
    total = sum(count for _, count in hours)
    peak = max((count for _, count in hours), default=0)
    summary = f"{title}: {total} request{'s' if total != 1 else ''}"
    if total:
        summary += f", at most {peak} in one hour"
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="100%" role="img" aria-label="{_attr(summary)}">',
        f"<title>{escape(summary)}</title>",
    ]
    parts += _axes(peak)
    parts += _bars(hours, peak)
    parts += _day_ticks(hours)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every value above went through escape())


def _plot_height() -> int:
    return HEIGHT - TOP - BOTTOM


def _axes(peak: int) -> list[str]:
    base = TOP + _plot_height()
    parts = [
        f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH}" y2="{base}" stroke="{GRID}"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{WIDTH}" y2="{TOP}" stroke="{GRID}" '
        'stroke-dasharray="3 3"/>',
        _text(LEFT - 6, TOP + 4, str(max(peak, 1)), anchor="end"),  # not "0" above "0"
        _text(LEFT - 6, base + 4, "0", anchor="end"),
    ]
    return parts


def _bars(hours: Sequence[tuple[datetime.datetime, int]], peak: int) -> list[str]:
    if not hours or not peak:
        return []
    step = (WIDTH - LEFT) / len(hours)
    width = max(step - 1, 1)
    parts = []
    for index, (hour, count) in enumerate(hours):
        if not count:
            continue
        height = max(count / peak * _plot_height(), 1)
        x = LEFT + index * step
        y = TOP + _plot_height() - height
        label = f"{hour:%Y-%m-%d %H}:00 UTC: {count} request{'s' if count != 1 else ''}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="{BAR}"><title>{escape(label)}</title></rect>'
        )
    return parts


def _day_ticks(hours: Sequence[tuple[datetime.datetime, int]]) -> list[str]:
    if not hours:
        return []
    step = (WIDTH - LEFT) / len(hours)
    base = TOP + _plot_height()
    parts = []
    for index, (hour, _) in enumerate(hours):
        if hour.hour != 0:
            continue
        x = LEFT + index * step
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="{TEXT}"/>'
        )
        label = f"{hour:%b %d}"
        if x + 2 + DAY_LABEL <= WIDTH:
            parts.append(_text(x + 2, base + 16, label, anchor="start"))
        else:  # a midnight near the right edge: the label ends at the edge instead
            parts.append(_text(WIDTH, base + 16, label, anchor="end"))
    return parts


def _text(x: float, y: float, content: str, *, anchor: str) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="{TEXT}" '
        f'text-anchor="{anchor}">{escape(content)}</text>'
    )


def _attr(value: str) -> str:
    return escape(value, quote=True)
