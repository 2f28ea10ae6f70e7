"""`report.png`: a run's load and what it cost its users, readable at a glance (Agg).

One quantity per panel, sharing a time axis ticked on day boundaries: the DCR endpoints'
requests/s, the protected API's, the outcomes that are not a success, the blocked
instances and the user-facing events per hour. A panel with nothing to show is left out.
Nothing is drawn over the data: legends sit to the right of their panel, the impact
counters in a text panel beside the plots, fault windows and rollouts are named in the
legend. A panel whose peak would flatten the rest (an outage's retry storm) switches to a
log scale and says so; the no-fault baseline, when given, is drawn pale behind the run.

`report_figure` builds the figure (tests inspect it), `plot_report` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

from dcrload.core.durations import format_duration
from dcrload.results import style

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

SUCCESS = {"200", "201"}
Series = Sequence[tuple[str, str, Sequence[int]]]


def _rates(series: Series, bins: int, width: float) -> tuple[dict[str, list[float]], dict]:
    per_endpoint: dict[str, list[float]] = {}
    failures: dict[str, list[float]] = {}
    for endpoint, outcome, row in series:
        total = per_endpoint.setdefault(endpoint, [0.0] * bins)
        for i, count in enumerate(row[:bins]):
            total[i] += count / width
        if outcome not in SUCCESS and any(row):
            key = f"{endpoint} {outcome}"
            rates = failures.setdefault(key, [0.0] * bins)
            for i, count in enumerate(row[:bins]):
                rates[i] += count / width
    return per_endpoint, failures


def _step(axis: Any, values: Sequence[float], width: float, **style_: Any) -> None:
    """Steps that draw the last bin too (a plain step plot stops at its last start)."""
    hours = [i * width / 3600.0 for i in range(len(values) + 1)]
    axis.step(hours, [*values, values[-1]] if values else [0.0], where="post", **style_)


def report_figure(
    *,
    title: str,
    bin_width: float,
    series: Series,
    impact: Mapping[str, Any],
    blocked_per_bin: Sequence[float] = (),
    hurt_per_bin: Mapping[str, Sequence[int]] | None = None,
    windows: Sequence[tuple[float, float, str]] = (),
    marks: Sequence[tuple[float, str]] = (),
    baseline: Series | None = None,
    duration: float | None = None,
    time_scale: float = 1.0,
    latency_per_bin: Mapping[str, Sequence[float]] | None = None,
    utilisation_per_bin: Sequence[float] = (),
) -> Figure:
    """The report as a matplotlib Figure.

    `windows` are (start s, end s, label) fault spans (an instant when start == end),
    `marks` (time s, label) instants such as a rollout's release, `baseline` the per-bin
    series of the same run without faults, `time_scale` how much faster than real time
    the run played (a load test): rates stay per simulated second and the labels say so.
    `latency_per_bin` is each DCR endpoint's p99 response time per bin (seconds, NaN where
    nothing was served) and `utilisation_per_bin` the workers' share of time busy: the
    model's latency and utilisation panels (a load test has neither).
    """
    hurt_per_bin = hurt_per_bin or {}
    bins = max((len(row) for _, _, row in series), default=len(blocked_per_bin)) or 1
    seconds = duration if duration else bins * bin_width
    per_endpoint, failures = _rates(series, bins, bin_width)
    base = _rates(baseline, bins, bin_width)[0] if baseline else {}
    unit = "requests/s" if time_scale == 1 else "requests per simulated s"
    panels: list[str] = []  # in drawing order; a panel with nothing to show is left out
    if any(any(per_endpoint.get(e, ())) for e in ("register", "token")):
        panels.append("dcr")
    if any(per_endpoint.get("api", ())):
        panels.append("api")
    latency = {k: v for k, v in (latency_per_bin or {}).items() if any(x == x for x in v)}
    if latency:
        panels.append("latency")
    if any(utilisation_per_bin):
        panels.append("workers")
    if failures:
        panels.append("failures")
    if any(blocked_per_bin):
        panels.append("blocked")
    group = max(1, round(3600.0 / bin_width))  # per hour: single events are legible
    hurt = {k: v for k, v in hurt_per_bin.items() if any(v)}
    if hurt:
        panels.append("hurt")
    if not panels:
        panels.append("dcr")

    plt.rcParams.update({"font.size": 9.5})
    figure = plt.figure(figsize=(12, 1.2 + 1.9 * len(panels)), layout="constrained")
    figure.suptitle(title, fontsize=12)
    grid = figure.add_gridspec(len(panels), 2, width_ratios=(4.6, 1.25))
    axes = [figure.add_subplot(grid[0, 0])]
    for row in range(1, len(panels)):
        axes.append(figure.add_subplot(grid[row, 0], sharex=axes[0]))
    side = figure.add_subplot(grid[:, 1])

    for kind, axis in zip(panels, axes, strict=True):
        if kind in ("dcr", "api"):
            names = ("register", "token") if kind == "dcr" else ("api",)
            peaks, levels = [], []
            for name in names:
                if name in base and any(base[name]):
                    _step(axis, base[name], bin_width, color=style.ENDPOINT_COLOURS[name],
                          alpha=0.3, linewidth=3.2, label=f"{name}: no-fault baseline")  # fmt: skip
                    peaks.append(max(base[name]))
                if any(per_endpoint.get(name, ())):
                    values = per_endpoint[name]
                    _step(axis, values, bin_width, color=style.ENDPOINT_COLOURS[name],
                          linewidth=1.3, label=name)  # fmt: skip
                    peaks.append(max(values))
                    levels.append(style.typical_level(values))
            log = style.rate_axis(axis, peaks, min(levels, default=0.0))
            what = "DCR" if kind == "dcr" else "API"
            axis.set_ylabel(f"{what} {unit}" + (" (log)" if log else ""))
        elif kind == "latency":
            peaks, levels = [], []
            for name, p99 in sorted(latency.items()):
                values = [x * 1000.0 for x in p99]  # NaN (nothing served): a gap
                _step(axis, values, bin_width, color=style.ENDPOINT_COLOURS[name],
                      linewidth=1.3, label=f"{name} p99")  # fmt: skip
                served = [v for v in values if v == v]
                peaks.append(max(served))
                levels.append(style.typical_level(served))
            log = style.rate_axis(axis, peaks, min(levels, default=0.0))
            axis.set_ylabel("response time, ms" + (" (log)" if log else ""), fontsize=8.5)
        elif kind == "workers":
            percent = [100.0 * u for u in utilisation_per_bin]
            hours = [i * bin_width / 3600.0 for i in range(len(percent) + 1)]
            axis.fill_between(hours, [*percent, percent[-1]], step="post", color=style.TOKEN,
                              alpha=0.35, label="DCR workers busy")  # fmt: skip
            axis.set_ylim(0, max(5.0, min(100.0, max(percent) * 1.15)))
            axis.set_ylabel("utilisation, %")
        elif kind == "failures":
            ordered = sorted(failures.items(), key=lambda item: -sum(item[1]))
            for (key, rates), colour in zip(ordered, style.OUTCOME_COLOURS * 9, strict=False):
                _step(axis, rates, bin_width, color=colour, linewidth=1.2, label=key)
            log = style.rate_axis(
                axis,
                [max(r) for _, r in ordered],
                min(style.typical_level(r) for _, r in ordered),
            )
            axis.set_ylabel(f"not 200/201, {unit}" + (" (log)" if log else ""), fontsize=8.5)
        elif kind == "blocked":
            hours = [i * bin_width / 3600.0 for i in range(len(blocked_per_bin) + 1)]
            levels = [*blocked_per_bin, blocked_per_bin[-1]]
            axis.fill_between(
                hours, levels, step="post", color=style.BLOCKED, alpha=0.6, label="blocked"
            )
            style.rate_axis(axis, [max(blocked_per_bin)], 0.0)
            axis.set_ylabel("blocked instances")
        else:
            colours = {"re-authentications": style.REAUTH}
            peaks = []
            for label, per_bin in sorted(hurt.items()):
                hourly = [sum(per_bin[i : i + group]) for i in range(0, len(per_bin), group)]
                colour = colours.get(label, style.EXPIRED)
                _step(axis, [float(h) for h in hourly], group * bin_width, color=colour,
                      linewidth=1.3, label=label)  # fmt: skip
                peaks.append(float(max(hourly)))
            style.rate_axis(axis, peaks, 0.0)
            axis.yaxis.set_major_locator(MaxNLocator(integer=True))
            axis.set_ylabel(f"users hit per {format_duration(group * bin_width)}")

    _faults(axes, windows, marks, seconds)
    for axis in axes:
        axis.grid(alpha=0.25)
        if axis is not axes[-1]:
            axis.tick_params(labelbottom=False)
        if axis.get_legend_handles_labels()[1]:
            axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                        frameon=False, borderaxespad=0.0)  # fmt: skip
    clock = "simulated time" + (f" (played {time_scale:g}× faster)" if time_scale != 1 else "")
    style.time_axis(axes[-1], seconds, clock)
    _counters(side, impact, failures)
    return figure


def _faults(
    axes: list[Any],
    windows: Sequence[tuple[float, float, str]],
    marks: Sequence[tuple[float, str]],
    seconds: float,
) -> None:
    """Shade fault windows on every panel; name them (and rollouts) in the top legend."""
    for start, end, label in windows:
        if start >= seconds:
            continue  # a fault scheduled after the end of a shortened run
        end = min(end, seconds)
        when = f"{label}, {_hhmm(start)}" + (f"–{_hhmm(end)}" if end > start else "")
        for index, axis in enumerate(axes):
            name = when if index == 0 else None
            if end > start:
                axis.axvspan(start / 3600, end / 3600, color=style.FAULT, alpha=0.15, label=name)
            else:
                axis.axvline(start / 3600, color=style.FAULT, linewidth=1.4, label=name)
    for at, label in marks:
        if at >= seconds:
            continue
        for index, axis in enumerate(axes):
            axis.axvline(at / 3600, color=style.ROLLOUT, linestyle=":", linewidth=1.6,
                         label=f"{label}, {_hhmm(at)}" if index == 0 else None)  # fmt: skip


def _hhmm(seconds: float) -> str:
    days, rest = divmod(round(seconds / 60), 24 * 60)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"day {days} {text}" if days else text


def _counters(side: Any, impact: Mapping[str, Any], failures: Mapping[str, Any]) -> None:
    """The impact counters as a two-column text table, beside the plots (never over data)."""
    side.axis("off")
    rows = style.impact_items(dict(impact))
    if not failures:
        rows.append(("", ""))
        rows.append(("every request", "200/201"))
    width = max((len(label) for label, _ in rows), default=0)
    text = "\n".join(f"{label:<{width}}  {value:>8}" if label else "" for label, value in rows)
    side.set_title("User impact (whole run)", fontsize=10, loc="left")
    side.text(0.0, 1.0, text, transform=side.transAxes, ha="left", va="top",
              fontsize=8.2, family="monospace")  # fmt: skip


def plot_report(path: Path, **kwargs: Any) -> None:
    """Write `report_figure(**kwargs)` to `path` as a PNG."""
    figure = report_figure(**kwargs)
    figure.savefig(path, dpi=100)
    plt.close(figure)
