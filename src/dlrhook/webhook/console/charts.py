"""Charts as SVG drawn on the server: no script runs in the browser, and a screenshot or a
printout shows exactly what the page shows. Every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

#: Colours by series kind, in the order a legend lists them.
PALETTE = ("#2e7d32", "#9e9e9e", "#f9a825", "#c62828", "#6a1b9a", "#1565c0", "#ef6c00", "#00838f", "#ad1457")


def _nice(top: float) -> int:
    """A round axis maximum at or above *top*."""
    if top <= 5:
        return 5
    step: int = 10 ** (len(str(int(top))) - 1)
    for factor in (1, 2, 5, 10):
        if top <= factor * step:
            return int(factor * step)
    return int(10 * step)


def stacked_bars(
    series: Sequence[tuple[str, Sequence[int]]],
    labels: Sequence[str],
    *,
    title: str,
    width: int = 720,
    height: int = 200,
) -> Markup:
    """One bar per slot (a minute), the series stacked in it, a legend with each series' total.

    *series* is ``(name, counts)`` with one count per label; *labels* name the slots (the first,
    the middle and the last are written under the axis).
    """
    slots = len(labels)
    left, bottom, top_pad = 44, 22, 8
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    totals = [sum(counts[i] for _, counts in series) for i in range(slots)]
    top = _nice(max(totals, default=0))
    bar = plot_w / max(slots, 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height + 20 * ((len(series) + 2) // 3)}" '
        f'width="{width}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" stroke="#777"/>',
        f'<text x="{left - 4}" y="{top_pad + 8}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i in range(slots):
        y = float(top_pad + plot_h)
        for n, (name, counts) in enumerate(series):
            value = counts[i]
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            parts.append(
                f'<rect x="{left + i * bar + 0.5:.1f}" y="{y:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(labels[i])} {escape(name)}: {value}</title></rect>'
            )
    for i in sorted({0, slots // 2, slots - 1}) if slots else []:
        anchor = "start" if i == 0 else "end" if i == slots - 1 else "middle"
        x = left + i * bar + (0 if i == 0 else bar if i == slots - 1 else bar / 2)
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="{anchor}" font-size="11">{escape(labels[i])}</text>'
        )
    for n, (name, counts) in enumerate(series):
        x, y = left + (n % 3) * 220, height + 14 + 20 * (n // 3)
        parts.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{PALETTE[n % len(PALETTE)]}"/>')
        parts.append(f'<text x="{x + 16}" y="{y}" font-size="12">{escape(name)}: {sum(counts)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every value in it is a number or escaped)


def bars(items: Sequence[tuple[str, int]], *, title: str, width: int = 720, height: int = 180) -> Markup:
    """One labelled vertical bar per item, its count above it (a bulk's groups, its times to final)."""
    left, bottom, top_pad = 10, 34, 18
    plot_w, plot_h = width - 2 * left, height - bottom - top_pad
    top = max((n for _, n in items), default=0) or 1
    slot = plot_w / max(len(items), 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - left}" y2="{top_pad + plot_h}" stroke="#777"/>',
    ]
    for i, (label, n) in enumerate(items):
        h = plot_h * n / top
        x = left + i * slot
        parts.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top_pad + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}" fill="{PALETTE[5]}"><title>{escape(label)}: {n}</title></rect>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{top_pad + plot_h - h - 4:.1f}" text-anchor="middle" '
            f'font-size="11">{n}</text>'
        )
        parts.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - 16}" text-anchor="middle" font-size="11">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every value in it is a number or escaped)


def spark(values: Sequence[int], *, colour: str = PALETTE[5], width: int = 160, height: int = 28) -> Markup:
    """A small line of per-minute values (a handler's calls), scaled to its own maximum."""
    if not values:
        return Markup("")
    top = max(values) or 1
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for i, v in enumerate(values))
    return Markup(  # noqa: S704  (numbers only)
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><polyline fill="none" stroke="{colour}" stroke-width="1.5" '
        f'points="{points}"/></svg>'
    )
