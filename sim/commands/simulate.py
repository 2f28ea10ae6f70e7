"""`dcrload simulate [SCENARIO] [--out DIR] [--seed N] [--set path=value ...]`."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from dcrload.commandline.arguments import (
    add_out,
    add_overrides,
    add_scenario,
    add_seed,
    overrides_with_seed,
)
from dcrload.model.scenario import load_scenario
from dcrload.results.files import ENDPOINTS, ResultsDir, default_out

NAME = "simulate"
HELP = "Simulate a fleet through the DCR lifecycle and write summary, time series and report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario(parser)
    add_out(parser, "results/<scenario>-<UTC timestamp>")
    add_seed(parser)
    add_overrides(parser)


def run(args: argparse.Namespace) -> int:
    from dcrload.analysis.recovery import fault_windows
    from dcrload.commandline.progress import DelayedProgress
    from dcrload.results.html import simulation_report, write_html
    from dcrload.results.summary import write_run
    from sim.fleet import simulate
    from sim.recovery import baseline_run, recovery_report

    overrides = overrides_with_seed(args)
    scenario = load_scenario(args.scenario, overrides)
    out = args.out or default_out(scenario.name)
    with ResultsDir(out) as staging:
        duration = scenario.scenario.duration
        with DelayedProgress(f"simulating {scenario.name}", duration) as bar:
            result = simulate(scenario, progress=bar.update)
        recovery = baseline = None
        if fault_windows(scenario):
            with DelayedProgress("baseline without fault windows", duration) as bar:
                baseline = baseline_run(result, progress=bar.update)
            recovery = recovery_report(result, baseline=baseline)
        summary = write_run(result, staging, recovery, baseline)
        title = f"dcrload simulate — {scenario.name} (seed {summary['seed']})"
        write_html(staging / "report.html", simulation_report(staging, summary, scenario, title))
    print_summary(summary, Console())
    print(f"results: {out}")
    return 0


def print_summary(summary: dict[str, Any], console: Console) -> None:
    """Two tables that fit 80 columns: requests and rates per endpoint, then the user
    impact in human units (instance-hours, k, M); every full figure is in summary.json."""
    from dcrload.results.style import human, impact_items

    table = Table(
        title=f"{summary['scenario']}: {summary['simulated_seconds'] / 3600:g} h simulated",
        title_justify="left",
    )
    for column in ("endpoint", "requests", "mean req/s", "peak req/s", "not 2xx"):
        table.add_column(column, justify="left" if column == "endpoint" else "right", no_wrap=True)
    for endpoint in ENDPOINTS:
        data = summary["endpoints"][endpoint]
        bad = sum(n for outcome, n in data["by_outcome"].items() if not outcome.startswith("2"))
        table.add_row(
            endpoint,
            human(data["requests"]),
            human(data["mean_rps"]),
            human(data["peak_rps"]),
            human(bad),
        )
    console.print(table)
    items = impact_items({k: v for k, v in summary["impact"].items() if k != "recovery"})
    impact = Table(title="user impact", title_justify="left", show_header=False)
    for _ in range(2):
        impact.add_column(no_wrap=True)
        impact.add_column(justify="right", no_wrap=True)
    half = (len(items) + 1) // 2
    for left, right in zip(items[:half], [*items[half:], ("", "")], strict=False):
        impact.add_row(*left, *right)
    console.print(impact)
    for window in summary["impact"].get("recovery", []):
        after = window["recovery_s"]
        if after is None:
            told = "did not come back to its baseline within the run"
        else:
            told = (
                f"came back within 10 % of its baseline {after / 60:.0f} min after it ended"
                f" (and stayed {window['sustained_s'] / 3600:g} h)"
            )
        console.print(f"{window['fault']}: load {told}", highlight=False)
        if window.get("echo"):
            echo = ", ".join(f"{e:.0%}" for e in window["echo"][:6])
            peak, base = window["peak_rps_1s"], window["baseline_peak_rps_1s"]
            console.print(f"  echo (largest deviation per token lifetime): {echo}", highlight=False)
            console.print(
                f"  one-second DCR peak {peak:g}/s (baseline {base:g}/s)", highlight=False
            )
