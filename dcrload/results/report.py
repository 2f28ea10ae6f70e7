"""`report.png`: the token load of a run at a glance, rendered headless (Agg).

Three panels share the time axis (hours): requests/s per endpoint (DCR endpoints on the
left axis, API calls on the right, since they differ by orders of magnitude), the outcomes
that are not a success, and the user impact (blocked instances over time, with the impact
counters written beside). Fault windows (outages, revocations) are shaded on every panel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

from dcrload.core.durations import format_duration

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SUCCESS = {"200", "201"}
COLOURS = {"register": "#d62728", "token": "#1f77b4", "api": "#7f7f7f"}
HURT_COLOURS = ("#8c564b", "#e377c2", "#17becf")


def plot_report(
    path: Path,
    *,
    title: str,
    bin_width: float,
    series: Sequence[tuple[str, str, Sequence[int]]],
    impact: Mapping[str, Any],
    blocked_per_bin: Sequence[float] = (),
    hurt_per_bin: Mapping[str, Sequence[int]] | None = None,
    windows: Sequence[tuple[float, float, str]] = (),
) -> None:
    """Draw the report; `windows` are (start s, end s, label) spans to shade.

    `hurt_per_bin` holds per-bin counts of what hurt users (re-authentications,
    expired-token calls), drawn per hour beside the blocked instances.
    """
    hurt_per_bin = hurt_per_bin or {}
    bins = max((len(row) for _, _, row in series), default=len(blocked_per_bin)) or 1
    hours = [i * bin_width / 3600.0 for i in range(bins)]
    per_endpoint: dict[str, list[float]] = {}
    failures: dict[str, list[float]] = {}
    for endpoint, outcome, row in series:
        total = per_endpoint.setdefault(endpoint, [0.0] * bins)
        for i, count in enumerate(row):
            total[i] += count / bin_width
        if outcome not in SUCCESS:
            key = f"{endpoint} {outcome}"
            failures[key] = [count / bin_width for count in row]

    plt.rcParams.update({"font.size": 10})
    figure, (load, bad, hurt) = plt.subplots(
        3, 1, figsize=(11, 8.5), sharex=True, height_ratios=(3, 2, 2), constrained_layout=True
    )
    figure.suptitle(title, fontsize=13)
    for endpoint in ("register", "token"):
        if endpoint in per_endpoint:
            load.step(
                hours,
                per_endpoint[endpoint],
                where="post",
                label=endpoint,
                color=COLOURS[endpoint],
                linewidth=1.4,
            )
    load.set_ylabel("DCR requests/s")
    load.set_ylim(bottom=0)
    if "api" in per_endpoint:
        api_axis = load.twinx()
        api_axis.step(
            hours,
            per_endpoint["api"],
            where="post",
            label="api (right axis)",
            color=COLOURS["api"],
            linewidth=1.0,
            alpha=0.7,
        )
        api_axis.set_ylabel("API requests/s")
        api_axis.set_ylim(bottom=0)
        lines = load.get_legend_handles_labels()
        more = api_axis.get_legend_handles_labels()
        load.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left", fontsize=9)
    else:
        load.legend(loc="upper left", fontsize=9)
    load.set_title("Load by endpoint", fontsize=11, loc="left")

    for key, rates in sorted(failures.items()):
        bad.step(hours, rates, where="post", label=key, linewidth=1.2)
    bad.set_ylabel("requests/s")
    bad.set_title("Outcomes other than 200/201", fontsize=11, loc="left")
    if failures:
        bad.legend(loc="upper left", fontsize=8, ncol=3)
    else:
        bad.text(
            0.5,
            0.5,
            "none: every request succeeded",
            transform=bad.transAxes,
            ha="center",
            va="center",
            color="#2ca02c",
        )
    bad.set_ylim(bottom=0)

    if any(blocked_per_bin):
        hurt.fill_between(
            hours[: len(blocked_per_bin)],
            blocked_per_bin,
            step="post",
            color="#ff7f0e",
            alpha=0.6,
            label="blocked instances (left)",
        )
    events = hurt.twinx()
    group = max(1, round(3600.0 / bin_width))  # count per hour: single events are legible
    for (label, per_bin), colour in zip(sorted(hurt_per_bin.items()), HURT_COLOURS, strict=False):
        if any(per_bin):
            hourly = [sum(per_bin[i : i + group]) for i in range(0, len(per_bin), group)]
            starts = [i * group * bin_width / 3600.0 for i in range(len(hourly))]
            events.step(starts, hourly, where="post", label=label, color=colour, linewidth=1.3)
    events.set_ylabel(f"per {format_duration(group * bin_width)}")
    events.set_ylim(bottom=0)
    handles = hurt.get_legend_handles_labels()
    more = events.get_legend_handles_labels()
    if handles[0] or more[0]:
        hurt.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left", fontsize=8.5)
    hurt.set_ylabel("instances")
    hurt.set_ylim(bottom=0)
    hurt.set_xlabel("time (hours)")
    hurt.set_title("User impact", fontsize=11, loc="left")
    text = "\n".join(f"{key.replace('_', ' ')}: {_number(value)}" for key, value in impact.items())
    events.text(
        0.99,
        0.95,
        text,
        transform=events.transAxes,
        zorder=5,
        ha="right",
        va="top",
        fontsize=8.5,
        family="monospace",
        bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#ccc"},
    )

    run_end = bins * bin_width
    for start, end, label in windows:
        if start >= run_end:
            continue  # a fault scheduled after the end of a shortened run
        end = min(end, run_end)
        for axis in (load, bad, hurt):
            axis.axvspan(start / 3600.0, end / 3600.0, color="#9467bd", alpha=0.12)
        load.annotate(
            label,
            xy=(start / 3600.0, 1.0),
            xycoords=("data", "axes fraction"),
            fontsize=8,
            va="bottom",
            color="#9467bd",
        )
    hurt.set_xlim(0, bins * bin_width / 3600.0)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if value != int(value) else f"{int(value):,}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
