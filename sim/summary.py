"""Turn a `SimulationResult` into the run's files: summary.json, timeseries.csv, report.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcrload.report import plot_report
from dcrload.results import endpoint_summary, write_json, write_timeseries
from sim.fleet import SimulationResult


def impact_of(result: SimulationResult) -> dict[str, Any]:
    """User impact: what the users of the fleet felt, and what the run cost them."""
    counters = result.counters
    registered = counters.total("register", "201")
    installed = result.installs + result.cold_instances
    per_install = (
        registered / installed
        if installed
        else registered / max(1, result.scenario.fleet.instances)
    )
    return {
        "reauthentications": result.reauthentications.total,
        "expired_token_calls": result.expired_calls.total,
        "blocked_instance_seconds": round(sum(result.blocked.area), 3),
        "registrations_per_install": round(per_install, 6),
        "blocked_instances_peak": result.blocked.peak,
        "failed_api_calls": result.failed_api_calls,
        "throttled_requests": sum(counters.total(e, "429") for e in ("register", "token", "api")),
        "credential_losses": result.losses,
        "app_updates": result.updates,
    }


def summary_of(result: SimulationResult) -> dict[str, Any]:
    """The summary.json contract of DESIGN.md, plus fleet facts."""
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
            "api_calls_wanted": result.api_wanted,
        },
        "endpoints": endpoint_summary(result.counters.items(), info.bin, result.duration),
        "impact": impact_of(result),
        "engine": {
            "events": result.events,
            "wall_seconds": round(result.wall_seconds, 4),
            "events_per_second": round(result.events / result.wall_seconds, 1)
            if result.wall_seconds > 0
            else 0.0,
        },
    }


def fault_windows(result: SimulationResult) -> list[tuple[float, float, str]]:
    faults = result.scenario.faults
    windows = [(o.start, o.start + o.duration, f"outage ({o.mode})") for o in faults.outages]
    bin_width = result.scenario.scenario.bin
    windows += [(r.at, r.at + bin_width, f"revoke {r.software_id}") for r in faults.revocations]
    return windows


def write_run(result: SimulationResult, out: Path) -> dict[str, Any]:
    """Write the three files into `out`; return the summary."""
    summary = summary_of(result)
    info = result.scenario.scenario
    write_json(out / "summary.json", summary)
    write_timeseries(out / "timeseries.csv", result.counters.items(), info.bin)
    plot_report(
        out / "report.png",
        title=f"dcrload simulate — {info.name} (seed {result.seed})",
        bin_width=info.bin,
        series=result.counters.items(),
        impact=summary["impact"],
        blocked_per_bin=result.blocked.mean_per_bin(),
        windows=fault_windows(result),
    )
    return summary
