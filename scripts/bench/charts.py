"""PNG charts of benchmark results (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure


def over_time(
    path: Path,
    title: str,
    rate: Sequence[tuple[float, float]],
    latency: Sequence[tuple[float, float]],
    lag: Sequence[tuple[float, int, int]],
) -> Path:
    """Three stacked panels: send rate, produce→queryable latency samples, consumer lag."""
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(10, 9), sharex=True)
    top.plot([t for t, _ in rate], [r for _, r in rate], color="tab:blue")
    top.set_ylabel("events sent / s")
    middle.scatter([t for t, _ in latency], [v * 1000 for _, v in latency], s=6, color="tab:orange")
    middle.set_ylabel("produce → queryable (ms)")
    bottom.plot([t for t, _, _ in lag], [a for _, a, _ in lag], label="transformer lag")
    bottom.plot([t for t, _, _ in lag], [b for _, _, b in lag], label="sink lag")
    bottom.set_ylabel("records behind")
    bottom.set_xlabel("seconds")
    bottom.legend()
    figure.suptitle(title)
    return _save(figure, path)


def grouped_bars(
    path: Path,
    title: str,
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    ylabel: str,
    log: bool = False,
) -> Path:
    figure, axes = plt.subplots(figsize=(max(8.0, len(groups) * 1.6) + 2.5, 5))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        axes.bar([g + i * width for g in range(len(groups))], values, width, label=name)
    axes.set_xticks(
        [g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups, rotation=20, ha="right"
    )
    axes.set_ylabel(ylabel)
    if log:
        axes.set_yscale("log")
    # beside the plot, not over it: with many series a legend inside covers the tallest bars
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    axes.set_title(title)
    return _save(figure, path)


def lines(
    path: Path, title: str, xs: Sequence[float], series: dict[str, Sequence[float]], xlabel: str, ylabel: str
) -> Path:
    """One line per series over ``xs``, both axes logarithmic (how cost grows with size)."""
    figure, axes = plt.subplots(figsize=(9, 5))
    for name, values in series.items():
        axes.plot(xs, values, marker="o", label=name)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.legend(fontsize="small")
    axes.set_title(title)
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
