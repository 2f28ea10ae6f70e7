"""`dcrload simulate [SCENARIO] [--out DIR] [--seed N] [--set path=value ...] [--jobs N]
[--sample F] [--dask ADDRESS]`."""

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
from dcrload.core.errors import UsageError
from dcrload.model.scenario import load_scenario
from dcrload.results.files import ENDPOINTS, ResultsDir, default_out

NAME = "simulate"
HELP = "Simulate a fleet through the DCR lifecycle and write summary, time series and report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario(parser)
    add_out(parser, "results/<scenario>-<UTC timestamp>")
    add_seed(parser)
    add_overrides(parser)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="split the fleet into N shards run in parallel processes (default 1)",
    )
    parser.add_argument(
        "--sample",
        type=float,
        default=1.0,
        metavar="F",
        help="simulate a random fraction F of the fleet (0 < F <= 1), capacity and counts"
        " scaled, with 95 %% intervals in summary.json",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the shards on the Dask scheduler at tcp://HOST:8786 (or local: a local"
        " cluster of --jobs workers)",
    )


def scale_options(args: argparse.Namespace) -> dict[str, Any]:
    """--jobs, --sample and --dask, checked (UsageError names the bad one)."""
    from sim.shards import dask_address

    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: expected a positive integer")
    if not 0.0 < args.sample <= 1.0:
        raise UsageError(f"--sample {args.sample:g}: expected a fraction in (0, 1]")
    dask = None if args.dask is None else dask_address(args.dask)
    return {"jobs": args.jobs, "sample": args.sample, "dask": dask}


def run(args: argparse.Namespace) -> int:
    from dcrload.analysis.recovery import fault_windows
    from dcrload.commandline.progress import DelayedProgress
    from dcrload.results.html import simulation_report, write_html
    from dcrload.results.summary import write_run
    from sim.fleet import simulate
    from sim.recovery import baseline_run, recovery_report

    overrides = overrides_with_seed(args)
    scale = scale_options(args)
    scenario = load_scenario(args.scenario, overrides, budget=scale["sample"] >= 1.0)
    if scale["sample"] < 1.0:  # what will run is the sample: its budget, not the fleet's
        from dcrload.model.estimate import check_budget

        sampled = max(1, round(scenario.fleet.instances * scale["sample"]))
        fleet = scenario.fleet.model_copy(update={"instances": sampled})
        check_budget(scenario.model_copy(update={"fleet": fleet}), str(args.scenario))
    out = args.out or default_out(scenario.name)
    with ResultsDir(out) as staging:
        duration = scenario.scenario.duration
        with DelayedProgress(f"simulating {scenario.name}", duration) as bar:
            result = simulate(scenario, progress=bar.update, **scale)
        recovery = baseline = None
        if fault_windows(scenario):
            with DelayedProgress("baseline without fault windows", duration) as bar:
                baseline = baseline_run(result, progress=bar.update, **scale)
            recovery = recovery_report(result, baseline=baseline)
        summary = write_run(result, staging, recovery, baseline)
        title = f"dcrload simulate — {scenario.name} (seed {summary['seed']})"
        write_html(staging / "report.html", simulation_report(staging, summary, scenario, title))
    console = Console()
    print_summary(summary, console)
    print_sample(summary, console)
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
        cohorts = window.get("by_cohort")
        if cohorts:
            console.print(cohort_recovery_table(cohorts))


def cohort_recovery_table(cohorts: dict[str, dict[str, float]]) -> Table:
    """Each cohort's own one-second DCR peak after a fault: where retry policies differ."""
    table = Table(title="  one-second DCR peaks by cohort (after: one token lifetime)",
                  title_justify="left")  # fmt: skip
    for head in ("cohort", "during", "after", "without fault", "drained in"):
        table.add_column(head, justify="left" if head == "cohort" else "right")
    for name, own in cohorts.items():
        table.add_row(
            name,
            f"{own['peak_rps_1s_during']:g}/s",
            f"{own['peak_rps_1s']:g}/s",
            f"{own['baseline_peak_rps_1s']:g}/s",
            f"{own['drain_s'] / 60:.0f} min",
        )
    return table


def print_sample(summary: dict[str, Any], console: Console) -> None:
    """A sampled run's 95 % intervals of the request totals and peak rates."""
    from dcrload.results.style import human

    sample = summary["engine"].get("sample")
    if not sample:
        return
    table = Table(
        title=f"sample {sample['fraction']:g} of the fleet ({human(sample['instances_simulated'])}"
        " simulated): 95 % intervals",
        title_justify="left",
    )
    for column in ("quantity", "estimate", "low", "high"):
        table.add_column(column, justify="left" if column == "quantity" else "right")
    for name, value in sample["intervals"].items():
        if value["estimate"] or value["high"]:
            table.add_row(name, *(human(value[k]) for k in ("estimate", "low", "high")))
    console.print(table)
    share = sample["workers_in_proportion"]
    if abs(sample["workers"] - share) > 0.1 * share:
        console.print(
            f"note: the sample's server has {sample['workers']} DCR worker(s) where"
            f" {share:.3g} would match the fleet's: it queues"
            f" {'less' if sample['workers'] > share else 'more'} than the fleet would"
            " (a larger sample or more server.workers match better)"
        )
