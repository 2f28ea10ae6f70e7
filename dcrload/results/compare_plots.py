"""The three pictures of a sweep, rendered headless (Agg) in the style of `report.png`.

- `token-load.png`: token requests/s over time, a small panel per variant with the other
  variants pale behind it (a dozen lines on one axis would be one indistinguishable band).
- `metrics.png`: a panel per metric that is not zero everywhere, a bar per variant with its
  95 % interval (clipped at the metric's floor, never drawn through it).
- `pareto.png`: mean peak token load against mean expired-token calls; the Pareto front
  (no other variant is lower on both) is joined by a line. Points carry numbers, the key
  beside the plot names them, so close variants never overprint.

Colours say the same thing everywhere (`dcrload.results.style`): green for the recommended
variant, blue for the other qualifying ones, grey-red for the excluded ones.

Each `*_figure` function returns the Figure (tests inspect it); `plot_*` write PNGs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

from dcrload.analysis.comparison import METRICS, VariantStats
from dcrload.analysis.stats import Interval
from dcrload.results import style

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

RECOMMENDED = style.RECOMMENDED
QUALIFYING = style.QUALIFYING
EXCLUDED = style.EXCLUDED


def _colour(label: str, recommended: str | None, qualifying: set[str]) -> str:
    if label == recommended:
        return RECOMMENDED
    return QUALIFYING if label in qualifying else EXCLUDED


def _save(figure: Figure, path: Path) -> None:
    figure.savefig(path, dpi=100)
    plt.close(figure)


def token_load_figure(
    stats: Sequence[VariantStats],
    *,
    bin_width: float,
    title: str,
    recommended: str | None,
    qualifying: set[str] | None = None,
) -> Figure:
    """A panel per variant: its mean token requests/s per bin, the others pale behind."""
    qualifying = set(qualifying) if qualifying is not None else {v.label for v in stats}
    columns = 1 if len(stats) <= 3 else 2
    rows = math.ceil(len(stats) / columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(11, 1.0 + 1.7 * rows), sharex=True, sharey=True,
        squeeze=False, layout="constrained",
    )  # fmt: skip
    figure.suptitle(title, fontsize=12)
    seconds = max((len(v.token_rps) for v in stats), default=1) * bin_width
    peak = max((max(v.token_rps, default=0.0) for v in stats), default=0.0)
    for index, axis in enumerate(axes.flat):
        if index >= len(stats):
            axis.axis("off")
            continue
        variant = stats[index]
        for other in stats:
            if other is not variant:
                _steps(axis, other.token_rps, bin_width, color=style.BASELINE, linewidth=0.8,
                       alpha=0.6)  # fmt: skip
        colour = _colour(variant.label, recommended, qualifying)
        chosen = variant.label == recommended
        _steps(axis, variant.token_rps, bin_width, color=colour,
               linewidth=2.2 if chosen else 1.4)  # fmt: skip
        mark = " (recommended)" if chosen else "" if variant.label in qualifying else " (excluded)"
        axis.set_title(variant.label + mark, fontsize=9.5, loc="left", color=colour)
        axis.set_ylim(0, peak * 1.1 if peak > 0 else 1)
        axis.grid(alpha=0.25)
    for axis in axes.flat[: len(stats)]:
        axis.set_ylabel("token req/s")
    for axis in axes[-1, :]:
        style.time_axis(axis, seconds, "simulated time")
    handles = _class_handles(stats, recommended, qualifying)
    handles.append(Line2D([], [], color=style.BASELINE, label="the other variants"))
    figure.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=9)
    return figure


def _steps(axis: Any, values: Sequence[float], width: float, **kwargs: Any) -> None:
    hours = [i * width / 3600.0 for i in range(len(values) + 1)]
    axis.step(hours, [*values, values[-1]] if values else [0.0], where="post", **kwargs)


def plot_token_load(path: Path, stats: Sequence[VariantStats], **kwargs: Any) -> None:
    _save(token_load_figure(stats, **kwargs), path)


def _errors(intervals: Sequence[Interval]) -> list[list[float]]:
    """Asymmetric whiskers from the (floor-clipped) interval bounds: never below the floor."""
    lows = [i.mean - i.low if i.known else 0.0 for i in intervals]
    highs = [i.high - i.mean if i.known else 0.0 for i in intervals]
    return [lows, highs]


def metrics_figure(
    stats: Sequence[VariantStats],
    *,
    title: str,
    recommended: str | None,
    qualifying: set[str],
) -> Figure:
    """A panel per metric that is not 0 for every variant: bars with 95 % whiskers."""
    shown = [m for m in METRICS if any(v.intervals[m.key].mean for v in stats)]
    zero = [m.label for m in METRICS if m not in shown]
    columns = 2 if len(shown) > 1 else 1
    rows = max(1, math.ceil(len(shown) / columns))
    height = max(2.0, 0.3 * len(stats) + 1.0)
    figure, axes = plt.subplots(
        rows, columns, figsize=(12, 1.0 + height * rows), squeeze=False, layout="constrained"
    )
    figure.suptitle(title + ("\n0 for every variant: " + ", ".join(zero) if zero else ""),
                    fontsize=11)  # fmt: skip
    labels = [v.label for v in stats]
    colours = [_colour(v.label, recommended, qualifying) for v in stats]
    for panel, metric in zip(axes.flat, shown, strict=False):
        intervals = [v.intervals[metric.key] for v in stats]
        means = [i.mean for i in intervals]
        positions = list(range(len(stats)))
        panel.barh(positions, means, xerr=_errors(intervals), color=colours, capsize=3,
                   height=0.7, error_kw={"elinewidth": 1.0})  # fmt: skip
        panel.set_yticks(positions, labels, fontsize=8.5)
        panel.invert_yaxis()
        panel.set_title(metric.label, fontsize=10, loc="left")
        top = max(i.high if i.known else i.mean for i in intervals)
        panel.set_xlim(0, top * 1.08 if top > 0 else 1)
        panel.xaxis.set_major_formatter(
            matplotlib.ticker.FuncFormatter(lambda x, _: style.human(x, 2))
        )
        panel.set_xlabel(f"{metric.label} (mean, 95 % CI)", fontsize=8.5)
        panel.grid(axis="x", alpha=0.3)
    for panel in list(axes.flat)[len(shown) :]:
        panel.axis("off")
    if not shown:
        axes.flat[0].text(0.5, 0.5, "every metric is 0 for every variant", ha="center")
    figure.legend(handles=_class_handles(stats, recommended, qualifying),
                  loc="outside lower center", ncol=3, fontsize=9)  # fmt: skip
    return figure


def plot_metrics(path: Path, stats: Sequence[VariantStats], **kwargs: Any) -> None:
    _save(metrics_figure(stats, **kwargs), path)


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


def groups(points: Sequence[tuple[float, float]], tolerance: float = 0.01) -> list[list[int]]:
    """Indices of points that sit on the same spot (within `tolerance` of each span)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    dx = (max(xs) - min(xs)) * tolerance if xs else 0.0
    dy = (max(ys) - min(ys)) * tolerance if ys else 0.0
    result: list[list[int]] = []
    for i, (x, y) in enumerate(points):
        for group in result:
            gx, gy = points[group[0]]
            if abs(gx - x) <= dx and abs(gy - y) <= dy:
                group.append(i)
                break
        else:
            result.append([i])
    return result


def pareto_figure(
    stats: Sequence[VariantStats],
    *,
    title: str,
    recommended: str | None,
    qualifying: set[str],
) -> Figure:
    """Peak token load (x) against expired-token calls (y), the front joined; numbered
    points, the key beside the plot."""
    peak = [v.intervals["peak_token_rps"] for v in stats]
    expired = [v.intervals["expired_token_calls"] for v in stats]
    points = [(p.mean, e.mean) for p, e in zip(peak, expired, strict=True)]
    front = pareto_front(points)
    figure = plt.figure(figsize=(11, 6.2), layout="constrained")
    grid = figure.add_gridspec(1, 2, width_ratios=(3.2, 1.2))
    axis = figure.add_subplot(grid[0, 0])
    side = figure.add_subplot(grid[0, 1])
    for variant, p, e in zip(stats, peak, expired, strict=True):
        colour = _colour(variant.label, recommended, qualifying)
        axis.errorbar(
            [p.mean], [e.mean], xerr=_errors([p]), yerr=_errors([e]), fmt="o", color=colour,
            ecolor=colour, elinewidth=1.0, alpha=0.9, capsize=3, zorder=3,
            markersize=9 if variant.label == recommended else 6,
        )  # fmt: skip
    xs = [points[i][0] for i in front]
    ys = [points[i][1] for i in front]
    front_label = "Pareto front (lowest peak for its expired calls)"
    axis.plot(xs, ys, "--", color="#555", linewidth=1.0, zorder=2, marker="o", markersize=14,
              markerfacecolor="none", label=front_label)  # fmt: skip
    key = []
    for number, members in enumerate(groups(points), start=1):
        x, y = points[members[0]]
        axis.annotate(str(number), (x, y), textcoords="offset points", xytext=(-4, 11),
                      fontsize=9, fontweight="bold", color="#333", ha="right")  # fmt: skip
        key.append(f"{number:>2}  " + ", ".join(stats[i].label for i in members))
    top = max((e.high if e.known else e.mean for e in expired), default=0.0)
    if top > 0 and top > 20 * max(style.typical_level([e.mean for e in expired]), 1.0):
        axis.set_yscale("symlog", linthresh=1.0)
        axis.set_ylabel("expired-token calls per run (mean, 95 % CI; log above 1)")
    else:
        axis.set_ylabel("expired-token calls per run (mean, 95 % CI)")
    axis.set_ylim(-0.05 * max(top, 1.0), max(top, 1.0) * 1.25)
    right = max((p.high if p.known else p.mean for p in peak), default=0.0)
    axis.set_xlim(0, right * 1.12 if right > 0 else 1)
    axis.set_xlabel("peak token requests/s (mean, 95 % CI)")
    axis.set_title(title, fontsize=11, loc="left")
    axis.grid(alpha=0.3)
    side.axis("off")
    side.set_title("Points", fontsize=10, loc="left")
    side.text(0.0, 1.0, "\n".join(_wrap(line, 34) for line in key), transform=side.transAxes,
              ha="left", va="top", fontsize=8.5, family="monospace")  # fmt: skip
    handles = _class_handles(stats, recommended, qualifying)
    handles += axis.get_legend_handles_labels()[0]
    figure.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=8.5)
    return figure


def _wrap(line: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(line, width, subsequent_indent="    ")) or line


def plot_pareto(path: Path, stats: Sequence[VariantStats], **kwargs: Any) -> None:
    _save(pareto_figure(stats, **kwargs), path)


def _class_handles(
    stats: Sequence[VariantStats], recommended: str | None, qualifying: set[str]
) -> list[Any]:
    """Legend patches for the colour classes present among the variants."""
    present = {_colour(v.label, recommended, qualifying) for v in stats}
    names = (
        (RECOMMENDED, "recommended"),
        (QUALIFYING, "qualifies"),
        (EXCLUDED, "excluded (expired calls or avoidable re-auths)"),
    )
    return [Patch(color=c, label=label) for c, label in names if c in present]
