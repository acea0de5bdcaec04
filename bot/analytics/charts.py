"""Charts as inline SVG (matplotlib, no display, text kept as text): grouped bars and a weekly line."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("svg")
matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "ruta-emprende", "font.size": 9})

from matplotlib.figure import Figure  # noqa: E402

__all__ = ["grouped_bars", "weekly_line"]

COLOURS = ("#b5446e", "#2f6690", "#8a8a8a", "#c9a227")


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def grouped_bars(categories: Sequence[str], series: Mapping[str, Sequence[float | None]], ylabel: str) -> str:
    """One group of bars per category, one bar per series; None (a suppressed cell) draws no bar."""
    figure = Figure(figsize=(6.2, 2.6))
    axes = figure.subplots()
    width = 0.8 / max(len(series), 1)
    for number, (name, values) in enumerate(series.items()):
        positions = [i + number * width for i in range(len(categories))]
        heights = [value or 0 for value in values]
        axes.bar(positions, heights, width, label=name, color=COLOURS[number % len(COLOURS)])
    axes.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(categories))], categories)
    axes.tick_params(axis="x", labelrotation=20)
    axes.set_ylabel(ylabel)
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False)
    return _svg(figure)


def weekly_line(weeks: Sequence[str], values: Sequence[int], ylabel: str) -> str:
    figure = Figure(figsize=(6.2, 2.2))
    axes = figure.subplots()
    axes.plot(range(len(weeks)), values, marker="o", markersize=3, color=COLOURS[1])
    step = max(1, len(weeks) // 10)
    axes.set_xticks(range(0, len(weeks), step), [weeks[i] for i in range(0, len(weeks), step)])
    axes.tick_params(axis="x", labelrotation=30)
    axes.set_ylabel(ylabel)
    axes.set_ylim(bottom=0)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)
