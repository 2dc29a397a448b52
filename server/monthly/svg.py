"""A grouped bar chart as inline SVG (no plotting library: two series and a few bars)."""

from __future__ import annotations

from html import escape

COLOURS = ("#2f6fb0", "#b0b8c4")
WIDTH, HEIGHT, LEFT, TOP, BOTTOM = 320, 220, 36, 28, 56


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]],
              maximum: float | None = None) -> str:
    """Bars of each series side by side per label, a y axis from 0 to ``maximum`` (default:
    the largest value), the legend under the title."""
    top = maximum or max((v for _, vs in series for v in vs), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - TOP - BOTTOM
    group = plot_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{HEIGHT}' "
           f"viewBox='0 0 {WIDTH} {HEIGHT}' role='img' aria-label='{escape(title)}' "
           "font-size='10'>",
           f"<text x='{WIDTH / 2}' y='12' text-anchor='middle' font-size='12'>"
           f"{escape(title)}</text>"]
    for i, (name, _) in enumerate(series):
        x = LEFT + i * 80
        out.append(f"<rect x='{x}' y='17' width='10' height='8' fill='{COLOURS[i % 2]}'/>"
                   f"<text x='{x + 14}' y='25'>{escape(name)}</text>")
    base = TOP + plot_h
    out.append(f"<line x1='{LEFT}' y1='{base}' x2='{WIDTH - 8}' y2='{base}' stroke='#444'/>"
               f"<line x1='{LEFT}' y1='{TOP}' x2='{LEFT}' y2='{base}' stroke='#444'/>"
               f"<text x='{LEFT - 3}' y='{TOP + 4}' text-anchor='end'>{_num(top)}</text>"
               f"<text x='{LEFT - 3}' y='{base}' text-anchor='end'>0</text>")
    for g, label in enumerate(labels):
        x0 = LEFT + g * group + group * 0.1
        for i, (_, values) in enumerate(series):
            v = values[g]
            h = plot_h * min(v / top, 1.0)
            out.append(f"<rect x='{x0 + i * bar:.1f}' y='{base - h:.1f}' width='{bar:.1f}' "
                       f"height='{h:.1f}' fill='{COLOURS[i % 2]}'><title>{escape(label)} "
                       f"{_num(v)}</title></rect>")
        cx = x0 + group * 0.4
        out.append(f"<text x='{cx:.1f}' y='{base + 12}' text-anchor='end' "
                   f"transform='rotate(-35 {cx:.1f} {base + 12})'>{escape(label)}</text>")
    if not labels:
        out.append(f"<text x='{WIDTH / 2}' y='{TOP + plot_h / 2}' text-anchor='middle' "
                   "fill='#888'>无数据</text>")
    out.append("</svg>")
    return "".join(out)


def _num(v: float) -> str:
    return f"{v:g}"
