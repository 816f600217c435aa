"""Small server-rendered SVG charts for the dashboard (no JavaScript, no CDN)."""

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD, TOP = 320, 130, 22, 32  # TOP leaves room for the title and the value labels


def bar_chart(points: list[tuple[str, float | None]], *, title: str, unit: str = "", fmt=None) -> SafeString:
    """One bar per (label, value); None is drawn as a gap. `fmt` renders a value for its label."""
    fmt = fmt or (lambda v: f"{v:g}{unit}")
    values = [v for _, v in points if v is not None]
    top = max(values, default=0) or 1
    n = max(len(points), 1)
    slot = (WIDTH - 2 * PAD) / n
    bar = max(slot * 0.6, 2)
    bars = []
    for index, (label, value) in enumerate(points):
        x = PAD + index * slot + (slot - bar) / 2
        height = 0 if value is None else (HEIGHT - PAD - TOP) * value / top
        y = HEIGHT - PAD - height
        text = "—" if value is None else fmt(value)
        bars.append((f"{x:.1f}", f"{y:.1f}", f"{bar:.1f}", f"{height:.1f}", label, text, f"{x + bar / 2:.1f}"))
    body = format_html_join(
        "",
        '<g><title>{4}: {5}</title><rect x="{0}" y="{1}" width="{2}" height="{3}" fill="#417690"></rect>'
        '<text x="{6}" y="{7}" font-size="9" text-anchor="middle">{4}</text>'
        '<text x="{6}" y="{8}" font-size="9" text-anchor="middle">{5}</text></g>',
        (
            (x, y, w, h, label, text, cx, HEIGHT - 8, f"{max(float(y) - 3, 9):.1f}")
            for x, y, w, h, label, text, cx in bars
        ),
    )
    return format_html(
        '<svg class="vigil-chart" role="img" aria-label="{}" viewBox="0 0 {} {}" width="{}" height="{}" '
        'xmlns="http://www.w3.org/2000/svg"><text x="4" y="12" font-size="11" font-weight="bold">{}</text>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"></line>{}</svg>',
        title,
        WIDTH,
        HEIGHT,
        WIDTH,
        HEIGHT,
        title,
        PAD,
        HEIGHT - PAD,
        WIDTH - PAD,
        HEIGHT - PAD,
        body,
    )
