"""What a sweep compares: the metrics of one run, and their intervals per variant.

`run_metrics` turns one stored run record into the flat row of `comparison.csv`;
`summarise` groups the rows by variant and gives every metric of `METRICS` a mean and a
95 % Student t interval over the seeds. The writers produce `comparison.csv`,
`intervals.csv` (tidy: one row per variant and metric) and `intervals.md`.

Metrics are computed from the stored summary when the outputs are written, never stored
in the record itself, so a changed definition applies to runs already on disk.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dcrload.analysis.stats import Interval, mean_interval

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    """Column heading in files and plots."""
    short: str
    """Column heading in the terminal."""
    description: str


METRICS: tuple[Metric, ...] = (
    Metric(
        "peak_token_rps", "peak token req/s", "peak/s", "busiest time bin of the token endpoint"
    ),
    Metric("p99_token_rps", "p99 token req/s", "p99/s", "99th percentile over the time bins"),
    Metric(
        "token_per_instance_day",
        "token req per instance-day",
        "per inst-day",
        "token requests / (instances ever installed x simulated days)",
    ),
    Metric(
        "expired_token_calls",
        "expired-token calls",
        "expired",
        "API calls the server refused because the token had expired",
    ),
    Metric("reauthentications", "re-authentications", "re-auths", "users made to log in again"),
    Metric(
        "avoidable_reauthentications",
        "avoidable re-auths",
        "avoidable",
        "re-authentications beyond credential losses and statement replacements",
    ),
    Metric("throttled_requests", "throttled requests", "429s", "429 answers on any endpoint"),
    Metric(
        "blocked_instance_seconds",
        "blocked instance-s",
        "blocked s",
        "time instances could not play, summed over instances",
    ),
)
"""The metrics of the intervals table and the bar plots, in that order."""

METRIC_KEYS = tuple(m.key for m in METRICS)


def unavoidable_reauthentications(impact: Mapping[str, Any]) -> int:
    """Re-authentications a correct client cannot avoid: one per credential loss (FAQ 8)
    and one per app update that replaced a refused statement (new credentials, FAQ 5).

    Each such event makes at most one re-authentication, so this is an upper bound on
    what a correct client causes; anything above it is the client's own doing (an
    anti-pattern that re-registers).
    """
    return int(impact.get("credential_losses", 0)) + int(impact.get("app_updates", 0))


def run_metrics(record: Mapping[str, Any]) -> dict[str, Any]:
    """The `comparison.csv` row of one run record (without the variant columns)."""
    summary = record["summary"]
    impact = summary["impact"]
    token = summary["endpoints"]["token"]
    fleet = summary.get("fleet", {})
    installed = int(fleet.get("initial_instances", 0)) + int(fleet.get("installs", 0))
    days = float(summary["simulated_seconds"]) / DAY
    exposure = installed * days
    reauths = int(impact["reauthentications"])
    return {
        "peak_token_rps": float(token["peak_rps"]),
        "p99_token_rps": float(token["p99_rps"]),
        "mean_token_rps": float(token["mean_rps"]),
        "token_requests": int(token["requests"]),
        "token_per_instance_day": token["requests"] / exposure if exposure > 0 else 0.0,
        "expired_token_calls": int(impact["expired_token_calls"]),
        "reauthentications": reauths,
        "avoidable_reauthentications": max(0, reauths - unavoidable_reauthentications(impact)),
        "credential_losses": int(impact.get("credential_losses", 0)),
        "app_updates": int(impact.get("app_updates", 0)),
        "throttled_requests": int(impact.get("throttled_requests", 0)),
        "blocked_instance_seconds": float(impact["blocked_instance_seconds"]),
        "failed_api_calls": int(impact.get("failed_api_calls", 0)),
        "register_requests": int(summary["endpoints"]["register"]["requests"]),
        "wall_seconds": float(summary.get("engine", {}).get("wall_seconds", 0.0)),
    }


@dataclass(frozen=True)
class VariantStats:
    """One variant over its seeds: the raw values per metric and their intervals."""

    label: str
    settings: dict[str, str]
    seeds: list[int]
    values: dict[str, list[float]]
    intervals: dict[str, Interval]
    token_rps: list[float]
    """Mean token requests/s per time bin over the seeds (for the load plot)."""

    def mean(self, metric: str) -> float:
        return self.intervals[metric].mean

    def total(self, metric: str) -> float:
        return math.fsum(self.values[metric])


def summarise(
    records: Sequence[Mapping[str, Any]], order: Sequence[str], bin_seconds: float
) -> list[VariantStats]:
    """Group run records by variant (in `order`) and compute every metric's interval."""
    grouped: dict[str, list[Mapping[str, Any]]] = {label: [] for label in order}
    for record in records:
        grouped[record["variant"]].append(record)
    result = []
    for label in order:
        runs = sorted(grouped[label], key=lambda r: r["seed"])
        if not runs:
            continue
        rows = [run_metrics(r) for r in runs]
        values = {key: [float(row[key]) for row in rows] for key in rows[0]}
        bins = max(len(r["token_per_bin"]) for r in runs)
        totals = [0.0] * bins
        for run in runs:
            for index, count in enumerate(run["token_per_bin"]):
                totals[index] += count
        result.append(
            VariantStats(
                label=label,
                settings=dict(runs[0]["settings"]),
                seeds=[int(r["seed"]) for r in runs],
                values=values,
                intervals={key: mean_interval(values[key], floor=0.0) for key in METRIC_KEYS},
                token_rps=[t / len(runs) / bin_seconds for t in totals],
            )
        )
    return result


# --------------------------------------------------------------------------- writers


def comparison_rows(
    records: Sequence[Mapping[str, Any]], axes: Sequence[str]
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of `comparison.csv`: a row per variant and seed."""
    header: list[str] = ["variant", *axes, "seed", "run"]
    rows: list[list[Any]] = []
    metric_names: list[str] = []
    for record in records:
        metrics = run_metrics(record)
        metric_names = metric_names or list(metrics)
        settings = record["settings"]
        rows.append(
            [
                record["variant"],
                *(settings.get(axis, "") for axis in axes),
                record["seed"],
                record["key"],
                *(_cell(metrics[name]) for name in metric_names),
            ]
        )
    return header + metric_names, rows


def interval_rows(stats: Sequence[VariantStats]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of `intervals.csv`: one per variant and metric."""
    header = ["variant", "metric", "seeds", "mean", "sd", "ci95_low", "ci95_high", "half_width"]
    rows = []
    for variant in stats:
        for key in METRIC_KEYS:
            i = variant.intervals[key]
            known = i.known
            rows.append(
                [
                    variant.label,
                    key,
                    i.n,
                    _cell(i.mean),
                    _cell(i.sd) if known else "",
                    _cell(i.low) if known else "",
                    _cell(i.high) if known else "",
                    _cell(i.half_width) if known else "",
                ]
            )
    return header, rows


def csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def markdown_table(stats: Sequence[VariantStats], marks: Mapping[str, str]) -> str:
    """Variants x metrics, each cell "mean [low, high]"; `marks` tags variant labels."""
    head = ["variant", *(m.label for m in METRICS)]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join([":--", *(["--:"] * len(METRICS))]) + "|",
    ]
    for variant in stats:
        cells = [f"{variant.label}{marks.get(variant.label, '')}"]
        cells += [cell_text(variant.intervals[m.key]) for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cell_text(interval: Interval) -> str:
    """ "mean [low, high]", or just the mean when the interval is zero-width or unknown."""
    if not interval.known or interval.half_width == 0:
        return number(interval.mean)
    return f"{number(interval.mean)} [{number(interval.low)}, {number(interval.high)}]"


def number(value: float) -> str:
    """A compact figure: 3 significant digits below 100, whole numbers with separators above."""
    if value == 0 or math.isnan(value):
        return "0" if value == 0 else "n/a"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _cell(value: float | int) -> Any:
    if isinstance(value, float):
        return repr(round(value, 9))
    return value
