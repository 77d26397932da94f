"""Line charts for the benchmark write-ups, drawn with Pillow (no plotting library needed).

    chart(path, [Panel("origin CPU per listener-second (ms)", "players", series, xlog=True)])

A panel is one set of axes; a series is (label, xs, ys) drawn as points joined by lines, in a
colour (and a marker shape, so it does not rely on colour alone) of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf"]
MARKERS = ["circle", "square", "triangle", "diamond", "circle", "square", "triangle"]


@dataclass
class Panel:
    title: str
    xlabel: str
    series: list[tuple[str, list[float], list[float]]]
    xlog: bool = False
    ylog: bool = False
    ylabel: str = ""
    hlines: list[tuple[str, float]] = field(default_factory=list)  # (label, y): a target line


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType sizes
        return ImageFont.load_default()


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), default=raw)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value <= high + step * 0.01:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:g}"
    return f"{value:.3g}"


def _draw_marker(draw: ImageDraw.ImageDraw, x: float, y: float, shape: str, colour: str) -> None:
    r = 4
    if shape == "square":
        draw.rectangle((x - r, y - r, x + r, y + r), fill=colour)
    elif shape == "triangle":
        draw.polygon([(x, y - r - 1), (x - r - 1, y + r), (x + r + 1, y + r)], fill=colour)
    elif shape == "diamond":
        draw.polygon([(x, y - r - 1), (x + r + 1, y), (x, y + r + 1), (x - r - 1, y)], fill=colour)
    else:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def _panel(image: Image.Image, box: tuple[int, int, int, int], panel: Panel) -> None:
    draw = ImageDraw.Draw(image)
    small, normal = _font(12), _font(14)
    left, top, right, bottom = box
    entries = len(panel.series) + len(panel.hlines)  # the legend goes under the axes
    plot_left, plot_top, plot_right = left + 62, top + 30, right - 30
    plot_bottom = bottom - 50 - 16 * entries
    draw.text(((left + right) / 2, top + 8), panel.title, fill="black", font=normal, anchor="mt")
    xs = [x for _, sx, _ in panel.series for x in sx]
    ys = [y for _, _, sy in panel.series for y in sy if y is not None and not math.isnan(y)]
    ys += [y for _, y in panel.hlines]
    if not xs or not ys:
        return

    def scale(values: list[float], log: bool) -> tuple[float, float]:
        if log:
            positive = [v for v in values if v > 0] or [1]
            return math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
        low, high = min(0.0, min(values)), max(values)
        return low, high * 1.08 if high > 0 else 1

    x0, x1 = scale(xs, panel.xlog)
    if panel.xlog and x0 == x1:
        x1 += 1
    y0, y1 = scale(ys, panel.ylog)
    if panel.ylog and y0 == y1:
        y1 += 1
    if not panel.xlog:
        x0 = min(xs)
        x1 = max(xs) if max(xs) > x0 else x0 + 1

    def px(x: float) -> float:
        v = math.log10(max(x, 1e-12)) if panel.xlog else x
        return plot_left + (v - x0) / (x1 - x0) * (plot_right - plot_left)

    def py(y: float) -> float:
        v = math.log10(max(y, 1e-12)) if panel.ylog else y
        return plot_bottom - (v - y0) / (y1 - y0) * (plot_bottom - plot_top)

    grid = "#dddddd"
    xticks = [10**e for e in range(int(x0), int(x1) + 1)] if panel.xlog else _nice_ticks(x0, x1)
    yticks = [10**e for e in range(int(y0), int(y1) + 1)] if panel.ylog else _nice_ticks(y0, y1)
    for t in xticks:
        draw.line((px(t), plot_top, px(t), plot_bottom), fill=grid)
        draw.text((px(t), plot_bottom + 4), _label(t), fill="black", font=small, anchor="mt")
    for t in yticks:
        if plot_top - 1 <= py(t) <= plot_bottom + 1:
            draw.line((plot_left, py(t), plot_right, py(t)), fill=grid)
            draw.text((plot_left - 4, py(t)), _label(t), fill="black", font=small, anchor="rm")
    draw.rectangle((plot_left, plot_top, plot_right, plot_bottom), outline="black")
    draw.text(
        ((plot_left + plot_right) / 2, plot_bottom + 22),
        panel.xlabel,
        fill="black",
        font=small,
        anchor="mt",
    )
    legend_y = plot_bottom + 42
    for label, y in panel.hlines:
        for x in range(int(plot_left), int(plot_right), 10):
            draw.line((x, py(y), min(x + 5, plot_right), py(y)), fill="#555555", width=1)
        draw.line((plot_left, legend_y + 6, plot_left + 24, legend_y + 6), fill="#555555")
        draw.text((plot_left + 30, legend_y), label, fill="black", font=small)
        legend_y += 16
    for index, (label, sx, sy) in enumerate(panel.series):
        colour, marker = COLOURS[index % len(COLOURS)], MARKERS[index % len(MARKERS)]
        points = [
            (px(x), py(y))
            for x, y in zip(sx, sy, strict=True)
            if y is not None and not math.isnan(y) and (y > 0 or not panel.ylog)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            _draw_marker(draw, x, y, marker, colour)
        _draw_marker(draw, plot_left + 12, legend_y + 6, marker, colour)
        draw.text((plot_left + 30, legend_y), label, fill="black", font=small)
        legend_y += 16


def chart(path: Path, panels: list[Panel], *, panel_width: int = 460, height: int = 420) -> None:
    """Panels side by side in one PNG."""
    image = Image.new("RGB", (panel_width * len(panels), height), "white")
    for index, panel in enumerate(panels):
        _panel(image, (index * panel_width, 0, (index + 1) * panel_width, height), panel)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
