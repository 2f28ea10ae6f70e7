"""The three pictures of a sweep, rendered headless (Agg) in the style of `report.png`.

- `token-load.png`: token requests/s over time, one line per variant (mean over seeds).
- `metrics.png`: one panel per metric, a bar per variant with its 95 % interval.
- `pareto.png`: mean peak token load against mean expired-token calls; the Pareto front
  (no other variant is lower on both) is joined by a line.

Colours say the same thing everywhere: green for the recommended variant, blue for the
other qualifying ones, grey-red for the excluded ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from dcrload.analysis.comparison import METRICS, VariantStats

RECOMMENDED = "#2ca02c"
QUALIFYING = "#1f77b4"
EXCLUDED = "#c7877f"


def _colour(label: str, recommended: str | None, qualifying: set[str]) -> str:
    if label == recommended:
        return RECOMMENDED
    return QUALIFYING if label in qualifying else EXCLUDED


def plot_token_load(
    path: Path,
    stats: Sequence[VariantStats],
    *,
    bin_width: float,
    title: str,
    recommended: str | None,
) -> None:
    """Mean token requests/s per bin, one line per variant; the recommended one is bold."""
    plt.rcParams.update({"font.size": 10})
    figure, axis = plt.subplots(figsize=(11, 5.5), constrained_layout=True)
    cmap = plt.get_cmap("tab10" if len(stats) <= 10 else "tab20")
    for index, variant in enumerate(stats):
        hours = [i * bin_width / 3600.0 for i in range(len(variant.token_rps))]
        chosen = variant.label == recommended
        axis.plot(
            hours,
            variant.token_rps,
            drawstyle="steps-post",
            color=cmap(index % cmap.N),
            linewidth=2.6 if chosen else 1.2,
            alpha=1.0 if chosen else 0.75,
            zorder=3 if chosen else 2,
            label=f"{variant.label} (recommended)" if chosen else variant.label,
        )
    axis.set_title(title, fontsize=12, loc="left")
    axis.set_xlabel("time (hours)")
    axis.set_ylabel("token requests/s (mean over seeds)")
    axis.set_ylim(bottom=0)
    axis.set_xlim(left=0)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_metrics(
    path: Path,
    stats: Sequence[VariantStats],
    *,
    title: str,
    recommended: str | None,
    qualifying: set[str],
) -> None:
    """A panel per metric: horizontal bars (means) with 95 % interval whiskers."""
    columns = 2
    rows = math.ceil(len(METRICS) / columns)
    height = max(2.2, 0.32 * len(stats) + 1.0)
    figure, axes = plt.subplots(
        rows, columns, figsize=(12, height * rows), constrained_layout=True, squeeze=False
    )
    figure.suptitle(title, fontsize=13)
    labels = [v.label for v in stats]
    colours = [_colour(v.label, recommended, qualifying) for v in stats]
    for panel, metric in zip(axes.flat, METRICS, strict=False):
        means = [v.intervals[metric.key].mean for v in stats]
        errors = [
            v.intervals[metric.key].half_width if v.intervals[metric.key].known else 0.0
            for v in stats
        ]
        positions = list(range(len(stats)))
        panel.barh(positions, means, xerr=errors, color=colours, capsize=3, height=0.7)
        panel.set_yticks(positions, labels, fontsize=8.5)
        panel.invert_yaxis()
        panel.set_title(metric.label, fontsize=10.5, loc="left")
        panel.set_xlim(left=0)
        panel.grid(axis="x", alpha=0.3)
        if not any(means):
            panel.text(
                0.5, 0.5, "0 for every variant", transform=panel.transAxes, ha="center",
                va="center", color=RECOMMENDED,
            )  # fmt: skip
    for panel in list(axes.flat)[len(METRICS) :]:
        panel.axis("off")
    _legend(figure)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (lower is better),
    ordered by the first coordinate."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(
            (ox <= x and oy <= y) and (ox < x or oy < y)
            for j, (ox, oy) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: points[i])


def plot_pareto(
    path: Path,
    stats: Sequence[VariantStats],
    *,
    title: str,
    recommended: str | None,
    qualifying: set[str],
) -> None:
    """Peak token load (x) against expired-token calls (y, symlog so 0 shows), with the
    Pareto front joined and every point labelled."""
    peak = [v.intervals["peak_token_rps"] for v in stats]
    expired = [v.intervals["expired_token_calls"] for v in stats]
    points = [(p.mean, e.mean) for p, e in zip(peak, expired, strict=True)]
    front = pareto_front(points)
    figure, axis = plt.subplots(figsize=(10, 6.5), constrained_layout=True)
    levels = _label_levels(points)
    for variant, p, e, level in zip(stats, peak, expired, levels, strict=True):
        colour = _colour(variant.label, recommended, qualifying)
        axis.errorbar(
            p.mean,
            e.mean,
            xerr=p.half_width if p.known else None,
            yerr=e.half_width if e.known and e.half_width > 0 else None,
            fmt="o",
            color=colour,
            ecolor=colour,
            elinewidth=1.0,
            alpha=0.9,
            markersize=9 if variant.label == recommended else 6,
            capsize=3,
            zorder=3,
        )
        axis.annotate(
            variant.label,
            (p.mean, e.mean),
            textcoords="offset points",
            xytext=(6, 7 + 12 * level),
            fontsize=8.5,
            color="#333",
            arrowprops={"arrowstyle": "-", "color": "#bbb", "linewidth": 0.6} if level else None,
        )
    for i in front:
        axis.plot(*points[i], "o", markersize=15, markerfacecolor="none",
                  markeredgecolor="#555", zorder=4)  # fmt: skip
    xs = [points[i][0] for i in front]
    ys = [points[i][1] for i in front]
    axis.plot(xs, ys, "--", color="#555", linewidth=1.2, zorder=2, label="Pareto front")
    axis.set_yscale("symlog", linthresh=1.0)
    axis.set_ylim(bottom=-0.3)
    axis.set_xlabel("peak token requests/s (mean, 95 % CI)")
    axis.set_ylabel("expired-token calls per run (mean, symlog)")
    axis.set_title(title, fontsize=12, loc="left")
    axis.grid(alpha=0.3)
    _legend(figure, axis, extra=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _label_levels(points: Sequence[tuple[float, float]]) -> list[int]:
    """Stack the labels of points that sit close together on one row (e.g. all at 0 expired
    calls) so they do not overprint: 0 for the first, 1, 2, ... for close neighbours."""
    xs = [x for x, _ in points]
    span = (max(xs) - min(xs)) or 1.0
    levels = [0] * len(points)
    order = sorted(range(len(points)), key=lambda i: (points[i][1], points[i][0]))
    previous: int | None = None
    for i in order:
        if previous is not None:
            px, py = points[previous]
            if py == points[i][1] and points[i][0] - px < 0.12 * span:
                levels[i] = (levels[previous] + 1) % 6
        previous = i
    return levels


def _legend(figure: plt.Figure, axis: plt.Axes | None = None, extra: bool = False) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(color=RECOMMENDED, label="recommended"),
        Patch(color=QUALIFYING, label="qualifies"),
        Patch(color=EXCLUDED, label="excluded (expired calls or avoidable re-auths)"),
    ]
    if extra:
        handles.append(
            Line2D([], [], linestyle="--", marker="o", markersize=10, markerfacecolor="none",
                   color="#555", label="Pareto front (lowest peak for its expired calls)")
        )  # fmt: skip
    if axis is not None:
        axis.legend(handles=handles, loc="upper right", fontsize=9)
    else:
        figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=9)
