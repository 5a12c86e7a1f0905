"""Small server-side SVG charts for the ops pages (no JavaScript library, no CDN)."""

from __future__ import annotations

from datetime import datetime

from django.utils.html import format_html
from django.utils.safestring import SafeString


def memory_chart(
    points: list[tuple[datetime, int]],
    *,
    total_mb: int,
    start: datetime,
    end: datetime,
    width: int = 640,
    height: int = 120,
) -> SafeString:
    """Used memory over time as a polyline against the GPU's total (the chart's top)."""
    span = max((end - start).total_seconds(), 1.0)
    top = max(total_mb, 1)

    def xy(at: datetime, used_mb: int) -> str:
        x = (at - start).total_seconds() / span * width
        y = height - min(used_mb, top) / top * height
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(at, used) for at, used in points)
    polyline = (
        format_html('<polyline fill="none" stroke="#1f4e8c" stroke-width="1.5" points="{}"/>', line) if points else ""
    )
    return format_html(
        '<svg class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
        'aria-label="GPU memory used over time, top of chart = {total} MiB">'
        '<rect x="0" y="0" width="{w}" height="{h}" fill="#fafbfc" stroke="#d9dee7"/>{line}</svg>',
        w=width,
        h=height,
        total=total_mb,
        line=polyline,
    )
