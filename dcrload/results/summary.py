"""Turn a `RunResult` into the run's files: summary.json, timeseries.csv, report.png.

Both drivers write through here: `dcrload simulate` and `dcrload loadtest` leave the same
files in the same formats.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from dcrload.analysis.recovery import fault_windows
from dcrload.model.counts import MEASURES, RunCounts, RunResult
from dcrload.results.files import endpoint_summary, write_json, write_timeseries

DCR_ENDPOINTS = ("register", "token")
SERVICE_COLUMNS = ("bin_start_s", "endpoint", "measure", "requests", "mean_ms", "p50_ms",
                   "p95_ms", "p99_ms", "max_ms")  # fmt: skip


def impact_of(result: RunResult) -> dict[str, Any]:
    """User impact: what the users of the fleet felt, and what the run cost them."""
    counters = result.counters
    counts = result.counts
    registered = sum(n for o, n in _outcomes(counters, "register").items() if o.startswith("2"))
    installed = result.installs + result.cold_instances
    per_install = (
        registered / installed
        if installed
        else registered / max(1, result.scenario.fleet.instances)
    )
    return {
        "reauthentications": counts.reauthentications.total,
        "expired_token_calls": counts.expired_calls.total,
        "blocked_instance_seconds": round(sum(counts.blocked.area()), 3),
        "registrations_per_install": round(per_install, 6),
        "blocked_instances_peak": counts.blocked.peak(),
        "blocked_instances_end": counts.blocked.level_at_end(),
        "failed_api_calls": counts.failed_api_calls,
        "throttled_requests": sum(counters.total(e, "429") for e in ("register", "token", "api")),
        "credential_losses": counts.losses,
        "app_updates": counts.updates,
    }


def _outcomes(counters: Any, endpoint: str) -> dict[str, int]:
    """Requests of one endpoint by outcome."""
    found: dict[str, int] = {}
    for e, outcome, row in counters.items():
        if e == endpoint:
            found[outcome] = found.get(outcome, 0) + sum(row)
    return found


def latency_of(counts: RunCounts, endpoint: str) -> dict[str, Any] | None:
    """p50/p95/p99/max/mean of one DCR endpoint's response time and queue wait, in ms
    (None when the run has no service figures: a load test, or nothing served)."""
    found: dict[str, Any] = {}
    for measure in MEASURES:
        figures = counts.service.figures(endpoint, measure)
        if figures is None:
            return None
        found["served"] = figures.pop("count")
        found[measure] = {k: round(v * 1000.0, 3) for k, v in figures.items()}
    return {"unit": "ms", **found}


def endpoints_of(result: RunResult) -> dict[str, Any]:
    """The `endpoints` section: counts and 5-minute rates, and for the DCR endpoints the
    one-second peak rate and the latency figures of the model."""
    info = result.scenario.scenario
    endpoints = endpoint_summary(result.counters.items(), info.bin, result.duration)
    counts = result.counts
    for endpoint in DCR_ENDPOINTS:
        entry = endpoints.get(endpoint)
        if entry is None:
            continue
        entry["peak_rps_1s"] = float(counts.per_second.peak(endpoint))
        latency = latency_of(counts, endpoint)
        if latency is not None:
            entry["latency"] = latency
    return endpoints


def workers_of(counts: RunCounts) -> dict[str, Any] | None:
    """The DCR workers: utilisation and mean queue length, over the run and at their peak bin."""
    service = counts.service
    if not service.workers:
        return None
    utilisation, queue = service.utilisation(), service.mean_queue()
    bins = len(utilisation)
    return {
        "workers": service.workers,
        "utilisation_mean": round(sum(utilisation) / bins, 6),
        "utilisation_peak": round(max(utilisation), 6),
        "mean_queue": round(sum(queue) / bins, 6),
        "mean_queue_peak": round(max(queue), 6),
    }


def summary_of(result: RunResult, recovery: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The summary.json contract of DESIGN.md, plus fleet facts and fault recovery times."""
    scenario = result.scenario
    info = scenario.scenario
    return {
        "scenario": info.name,
        "seed": result.seed,
        "simulated_seconds": result.duration,
        "bin_seconds": info.bin,
        "fleet": {
            "initial_instances": scenario.fleet.instances,
            "installs": result.installs,
            "clients_registered": result.clients_registered,
            "tokens_issued": result.tokens_issued,
            "api_calls_wanted": result.counts.api_wanted,
        },
        "endpoints": endpoints_of(result),
        **({"workers": w} if (w := workers_of(result.counts)) else {}),
        "impact": {**impact_of(result), "recovery": recovery or []},
        "cohorts": result.cohort_summary(),
        "engine": {
            **result.engine,
            "events": result.events,
            "wall_seconds": round(result.wall_seconds, 4),
            "events_per_second": round(result.events / result.wall_seconds, 1)
            if result.wall_seconds > 0
            else 0.0,
        },
    }


def write_service(path: Path, counts: RunCounts, bin_width: float) -> None:
    """`service.csv`, tidy, per bin: each DCR endpoint's wait and response-time figures
    (ms), and two rows of endpoint "workers" (measure utilisation, mean_queue) whose value
    is in the mean_ms column."""
    service = counts.service
    utilisation, queue = service.utilisation(), service.mean_queue()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(SERVICE_COLUMNS)
        for index in range(service.bins):
            start = f"{index * bin_width:g}"
            for endpoint in DCR_ENDPOINTS:
                for measure in MEASURES:
                    figures = service.figures(endpoint, measure, [index])
                    if figures is None:
                        continue
                    ms = [round(figures[k] * 1000.0, 3) for k in ("mean", "p50", "p95", "p99")]
                    top = round(figures["max"] * 1000.0, 3)
                    writer.writerow([start, endpoint, measure, figures["count"], *ms, top])
            for measure, value in (("utilisation", utilisation), ("mean_queue", queue)):
                writer.writerow([start, "workers", measure, "", round(value[index], 6)] + [""] * 4)


def shaded_windows(result: RunResult) -> list[tuple[float, float, str]]:
    """Fault windows to shade in the report; an instant (a revocation) has end == start."""
    return [
        (start, end, label.split(" at ")[0]) for label, start, end in fault_windows(result.scenario)
    ]


def rollout_marks(result: RunResult) -> list[tuple[float, str]]:
    """(time, label) of every replacement update's release, to mark in the report."""
    return [
        (r.rollout.released_at, f"update {r.rollout.software_id} released")
        for r in result.scenario.faults.revocations
        if r.rollout is not None
    ]


def report_inputs(
    result: RunResult,
    summary: dict[str, Any],
    title: str,
    *,
    baseline: RunResult | None = None,
    time_scale: float = 1.0,
) -> dict[str, Any]:
    """The keyword arguments of `plot_report` / `report_figure` for a run."""
    info = result.scenario.scenario
    return {
        "title": title,
        "bin_width": info.bin,
        "series": result.counters.items(),
        "impact": {k: v for k, v in summary["impact"].items() if not isinstance(v, list | dict)},
        "blocked_per_bin": result.counts.blocked.mean_per_bin(),
        "hurt_per_bin": {
            "expired-token API calls": result.counts.expired_calls.per_bin,
            "re-authentications": result.counts.reauthentications.per_bin,
        },
        "windows": shaded_windows(result),
        "marks": rollout_marks(result),
        "baseline": baseline.counters.items() if baseline is not None else None,
        "duration": result.duration,
        "time_scale": time_scale,
        **service_panels(result.counts),
    }


def service_panels(counts: RunCounts) -> dict[str, Any]:
    """The latency and utilisation panels' inputs (empty for a run without the model's
    service figures, such as a load test)."""
    service = counts.service
    if not service.workers:
        return {}
    latency: dict[str, list[float]] = {}
    for endpoint in DCR_ENDPOINTS:
        row = []
        for index in range(service.bins):
            figures = service.figures(endpoint, "response", [index])
            row.append(math.nan if figures is None else figures["p99"])
        latency[endpoint] = row
    return {"latency_per_bin": latency, "utilisation_per_bin": service.utilisation()}


def write_files(
    result: RunResult,
    out: Path,
    summary: dict[str, Any],
    title: str,
    *,
    baseline: RunResult | None = None,
    time_scale: float = 1.0,
) -> None:
    """summary.json, timeseries.csv and report.png of a run (simulated or measured);
    `baseline` is the no-fault run drawn behind it, `time_scale` a load test's speed-up."""
    info = result.scenario.scenario
    write_json(out / "summary.json", summary)
    write_timeseries(out / "timeseries.csv", result.counters.items(), info.bin)
    if result.counts.service.workers:
        write_service(out / "service.csv", result.counts, info.bin)
    # matplotlib only where a picture is drawn: a Locust process, a sweep's or a Dask
    # worker computes summaries and would pay most of a second to load it
    from dcrload.results.report import plot_report

    inputs = report_inputs(result, summary, title, baseline=baseline, time_scale=time_scale)
    plot_report(out / "report.png", **inputs)


def write_run(
    result: RunResult,
    out: Path,
    recovery: list[dict[str, Any]] | None = None,
    baseline: RunResult | None = None,
) -> dict[str, Any]:
    """Write the three files of a simulation into `out`; return the summary."""
    summary = summary_of(result, recovery)
    name = result.scenario.scenario.name
    write_files(
        result, out, summary, f"dcrload simulate — {name} (seed {result.seed})", baseline=baseline
    )
    return summary
