"""What every picture and table of dcrload shares: one colour per concept, human units, and
time axes ticked on day boundaries.

A planner compares pictures side by side, so a colour means the same thing everywhere
(the recommended variant is the same green in `compare` as "every request succeeded" in a
report) and a quantity reads the same in the terminal, the PNG and the HTML report.
"""

from __future__ import annotations

import math
from typing import Any

REGISTER = "#d62728"
TOKEN = "#1f77b4"
API = "#555555"
ENDPOINT_COLOURS = {"register": REGISTER, "token": TOKEN, "api": API}
BASELINE = "#b0b0b0"
"""The no-fault (or predicted) run drawn behind the run itself."""
FAULT = "#9467bd"
"""Fault windows: outages and revocations."""
ROLLOUT = "#17becf"
"""Replacement app updates (a rollout's release)."""
BLOCKED = "#ff7f0e"
REAUTH = "#e377c2"
EXPIRED = "#8c564b"
RECOMMENDED = "#2ca02c"
"""The recommended variant, and "nothing went wrong"."""
QUALIFYING = "#1f77b4"
EXCLUDED = "#c7877f"
OUTCOME_COLOURS = ("#e6550d", "#756bb1", "#31a354", "#3182bd", "#de2d26", "#636363")
"""Non-success outcomes, in order of size."""


def human(value: float, digits: int = 3) -> str:
    """A count or rate for people: 1,234 · 12.3k · 4.56M · 0.0123 (`digits` significant)."""
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e9:
        return f"{value / 1e9:.{_decimals(size / 1e9, digits)}f}G"
    if size >= 1e6:
        return f"{value / 1e6:.{_decimals(size / 1e6, digits)}f}M"
    if size >= 1e5:
        return f"{value / 1e3:.{_decimals(size / 1e3, digits)}f}k"
    if size >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.{_decimals(size, digits)}f}"


def _decimals(size: float, digits: int) -> int:
    return max(0, digits - 1 - math.floor(math.log10(size))) if size > 0 else 0


def impact_items(impact: dict[str, Any]) -> list[tuple[str, str]]:
    """The impact counters as (label, value) in the units a planner reads: blocked time in
    instance-hours, registrations per install to two decimals (as the terminal prints)."""
    rows = []
    for key, value in impact.items():
        if isinstance(value, list | dict):
            continue
        label = key.replace("_", " ")
        if key == "blocked_instance_seconds":
            label, text = "blocked instance-hours", human(value / 3600.0)
        elif isinstance(value, float):
            text = f"{value:,.2f}"
        else:
            text = human(value)
        rows.append((label, text))
    return rows


def time_axis(axis: Any, seconds: float, label: str) -> None:
    """Ticks on day boundaries (days for long runs, hours of the day for short ones)."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    hours = seconds / 3600.0
    if hours > 36:
        axis.xaxis.set_major_locator(MultipleLocator(24))
        axis.xaxis.set_minor_locator(MultipleLocator(6))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"day {x / 24:.0f}"))
    elif hours <= 1.5:  # a load test's few simulated minutes: minute ticks
        minutes = hours * 60
        step = next((s for s in (1, 2, 5, 10, 15) if minutes / s <= 8), 15) / 60
        axis.xaxis.set_major_locator(MultipleLocator(step))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x * 60:.0f} min"))
    else:
        step = 1 if hours <= 6 else 3 if hours <= 24 else 6
        axis.xaxis.set_major_locator(MultipleLocator(step))
        axis.xaxis.set_minor_locator(MultipleLocator(step / 3 if step >= 1 else step / 5))
        axis.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _clock(x)))
    axis.set_xlim(0, hours)
    axis.set_xlabel(label)


def _clock(hours: float) -> str:
    whole = math.floor(hours + 1e-9)
    minutes = round((hours - whole) * 60)
    return f"{whole}h" if minutes == 0 else f"{whole}h{minutes:02d}"


def rate_axis(axis: Any, peaks: list[float], typical: float) -> bool:
    """A log scale when one spike would flatten the rest (peak > 20 × the typical level);
    returns whether it chose log, so the label can say so."""
    from matplotlib.ticker import FuncFormatter

    peak = max(peaks, default=0.0)
    if typical > 0 and peak > 20 * typical:
        axis.set_yscale("log")
        axis.set_ylim(typical / 10, peak * 2)
        axis.yaxis.set_major_formatter(FuncFormatter(lambda y, _: human(y, 2)))
        return True
    axis.set_ylim(0, peak * 1.1 if peak > 0 else 1)
    axis.yaxis.set_major_formatter(FuncFormatter(lambda y, _: human(y, 2)))
    return False


def typical_level(values: list[float]) -> float:
    """The median of the non-zero values: the level a spike is compared with."""
    positive = sorted(v for v in values if v > 0)
    return positive[len(positive) // 2] if positive else 0.0
