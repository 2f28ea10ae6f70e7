"""`dcrload compare SCENARIO --vary PATH=V1,V2,... [--seeds K] [--jobs J] [--dask ADDR]
[--out DIR]`.

Runs every variant x seed (in parallel processes), keeps each finished run on disk, and
writes into one folder: `comparison.csv` (a row per variant and seed), `intervals.csv` and
`intervals.md` (each metric's mean and 95 % interval per variant), `token-load.png`,
`metrics.png`, `pareto.png` and `recommendation.json`.

The folder is the sweep's memory. Without `--out` it is
`results/<scenario>-compare-<hash>`, where the hash covers the resolved scenario (with
`--set`) and the values of every `--vary` (not their order, not `--seeds`, not `--jobs`):
running the same command again finds the same folder and runs nothing; more seeds or an
interrupted sweep run only what is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from dcrload.commandline.arguments import add_overrides, add_scenario
from dcrload.core.errors import UsageError

if TYPE_CHECKING:
    from sim.sweep import Grid

NAME = "compare"
HELP = "Sweep scenario variants over several seeds; compare them with intervals and recommend."

SWEEP_FILE = "sweep.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario(parser, optional=False)
    parser.add_argument(
        "--vary",
        action="append",
        default=[],
        required=True,
        metavar="PATH=V1,V2,...",
        help=(
            "a field and the values to try, parsed like --set values; repeat for a grid."
            " @presets expands to every preset of a cohort's refresh (or retry) field,"
            " e.g. cohorts.0.refresh=@presets"
        ),
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        metavar="K",
        help="runs per variant, seeds = the scenario's seed, seed+1, ... (default 3)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="J",
        help="parallel processes (default: CPU count; 1 runs in this process)",
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS",
        help="run the grid on the Dask scheduler at tcp://HOST:8786 (or local: a local"
        " cluster of --jobs workers)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="sweep folder; reusing it skips finished runs"
        " (default results/<scenario>-compare-<hash of scenario and --vary values>)",
    )
    add_overrides(parser, "fleet.instances=1000 (every variant)")


def run(args: argparse.Namespace) -> int:
    from sim import sweep

    if args.seeds < 1:
        raise UsageError(f"--seeds {args.seeds}: expected a positive integer")
    jobs = (os.cpu_count() or 1) if args.jobs is None else args.jobs
    if jobs < 1:
        raise UsageError(f"--jobs {jobs}: expected a positive integer")
    from sim.shards import dask_address

    dask = None if args.dask is None else dask_address(args.dask)
    grid = sweep.build_grid(args.scenario, args.overrides, args.vary)
    out: Path = args.out or Path("results") / f"{grid.base.name}-compare-{grid.fingerprint()}"
    _check_folder(out)

    code = sweep.code_fingerprint()
    seeds = grid.seeds(args.seeds)
    tasks = grid.tasks(seeds, code)
    store = sweep.RunStore(out / "runs")
    console = Console()  # honours COLUMNS; 80 wide when piped
    with store.locked():
        store.clean_temporaries()
        todo = [task for task in tasks if not store.has(task.key)]
        workers = min(jobs, max(1, len(todo)))
        console.print(
            f"compare {grid.base.name}: {len(grid.variants)} variants x {len(seeds)} seeds ="
            f" {len(tasks)} runs; {len(tasks) - len(todo)} on disk, {len(todo)} to run"
            + (
                ""
                if not todo
                else " on the Dask cluster"
                if dask
                else f" on {workers} process{'es' if workers > 1 else ''}"
            ),
            highlight=False,
        )
        started = time.monotonic()
        if todo:
            from dcrload.commandline.progress import DelayedProgress

            with DelayedProgress(f"compare {grid.base.name}", len(todo)) as bar:
                sweep.execute(todo, store, code, jobs, tick=bar.update, dask=dask)
            elapsed = time.monotonic() - started
            console.print(f"ran {len(todo)} runs in {elapsed:.1f} s", highlight=False)
        records = []
        for task in tasks:
            record = store.load(task.key)
            if record is None:  # pragma: no cover - a run file vanished under us
                raise UsageError(f"{store.path(task.key)}: run record missing; run again")
            # a record may come from another sweep that spelled the variant differently
            records.append({**record, "variant": task.variant, "settings": dict(task.settings)})
        result = _write_outputs(out, grid, seeds, records)
    _print(console, result)
    print(f"results: {out}")
    return 0


def _check_folder(out: Path) -> None:
    """Refuse a folder that holds something other than an earlier sweep (nothing written)."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out}: exists and is not a folder")
    if (
        out.is_dir()
        and any(out.iterdir())
        and not (out / SWEEP_FILE).exists()
        and not (out / "runs").is_dir()
    ):
        raise UsageError(f"{out}: exists, is not empty and holds no dcrload compare sweep")


def _write_outputs(
    out: Path, grid: Grid, seeds: list[int], records: list[dict[str, Any]]
) -> dict[str, Any]:
    from dcrload.analysis.comparison import (
        comparison_rows,
        csv_text,
        interval_rows,
        markdown_table,
        summarise,
    )
    from dcrload.analysis.recommend import recommend
    from dcrload.results import compare_plots as plots
    from dcrload.results.html import compare_report, write_html
    from sim.sweep import write_atomic

    info = grid.base.scenario
    order = [v.label for v in grid.variants]
    stats = summarise(records, order, info.bin)
    advice = recommend(stats)
    chosen = advice["recommended"]["variant"] if advice["recommended"] else None
    qualifying = set(advice["qualifying"])
    marks = {v.label: " (excluded)" for v in stats if v.label not in qualifying}
    if chosen:
        marks[chosen] = " (recommended)"

    axes = [axis.path for axis in grid.axes]
    write_atomic(out / "comparison.csv", csv_text(*comparison_rows(records, axes)))
    write_atomic(out / "intervals.csv", csv_text(*interval_rows(stats)))
    heading = (
        f"# {info.name}: {len(stats)} variants x {len(seeds)} seeds\n\n"
        f"Mean over seeds {seeds[0]}-{seeds[-1]} [95 % Student t interval].\n\n"
    )
    write_atomic(
        out / "intervals.md",
        heading + markdown_table(stats, marks) + f"\n{advice['verdict']}\n",
    )
    write_atomic(out / "recommendation.json", json.dumps(advice, indent=2) + "\n")
    title = f"dcrload compare — {info.name} ({len(seeds)} seeds)"
    _plot(out / "token-load.png", plots.plot_token_load, stats, bin_width=info.bin,
          title=f"{title}: token load over time", recommended=chosen,
          qualifying=qualifying)  # fmt: skip
    _plot(out / "metrics.png", plots.plot_metrics, stats, title=title, recommended=chosen,
          qualifying=qualifying)  # fmt: skip
    _plot(out / "pareto.png", plots.plot_pareto, stats,
          title=f"{title}: peak load against expired-token calls", recommended=chosen,
          qualifying=qualifying)  # fmt: skip
    sweep_info = {
        "scenario": grid.source,
        "name": info.name,
        "set": list(grid.overrides),
        "vary": [{"path": a.path, "values": list(a.texts)} for a in grid.axes],
        "seeds": seeds,
        "variants": order,
        "command": ["dcrload", *sys.argv[1:]],
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_atomic(out / SWEEP_FILE, json.dumps(sweep_info, indent=2) + "\n")
    varied = [f"--vary {a.path}={','.join(a.texts)}" for a in grid.axes]
    base = f"seeds {seeds[0]}-{seeds[-1]}; the scenario below is the base of every variant"
    page = compare_report(out, stats, advice, marks, grid.base, title, notes=[*varied, base])
    temp = out / ".report.tmp.html"
    write_html(temp, page)
    os.replace(temp, out / "report.html")
    return {"stats": stats, "advice": advice, "marks": marks, "seeds": seeds, "name": info.name}


def _plot(path: Path, draw: Any, *args: Any, **kwargs: Any) -> None:
    temp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    draw(temp, *args, **kwargs)
    os.replace(temp, path)


DROP_FIRST = (
    "blocked_instance_seconds",
    "p99_token_rps",
    "throttled_requests",
    "avoidable_reauthentications",
)
"""Columns given up first when the table is wider than the terminal (all are in the files)."""


def _print(console: Console, result: dict[str, Any]) -> None:
    """The intervals table, made to fit the terminal on purpose: metrics that are 0 for
    every variant become one line, each cell is the mean over "±half-width", and when it
    is still too wide the least telling columns go (intervals.md has every figure)."""
    from dcrload.analysis.comparison import METRICS, number

    stats, advice, marks = result["stats"], result["advice"], result["marks"]
    zero = [m for m in METRICS if not any(v.intervals[m.key].mean for v in stats)]
    shown = [m for m in METRICS if m not in zero]
    dropped: list[Any] = []
    while True:
        table = _table(result, stats, marks, shown, number)
        unbounded = console.options.update(max_width=10_000)
        if console.measure(table, options=unbounded).maximum <= console.width or not shown:
            break
        order = {key: rank for rank, key in enumerate(DROP_FIRST)}
        victim = min(shown, key=lambda m: (order.get(m.key, len(order)), -shown.index(m)))
        shown.remove(victim)
        dropped.append(victim)
    console.print(table)
    if zero:
        console.print("0 for every variant: " + ", ".join(m.short for m in zero), highlight=False)
    if dropped:
        console.print(
            "not shown for width (see intervals.md): " + ", ".join(m.short for m in dropped),
            highlight=False,
        )
    console.print(advice["verdict"], highlight=False)


def _table(
    result: dict[str, Any], stats: Any, marks: dict[str, str], shown: list[Any], number: Any
) -> Table:
    table = Table(
        title=f"{result['name']}: mean ±95 % half-width, {len(result['seeds'])} seeds",
        title_justify="left",
    )
    table.add_column("variant", no_wrap=True)
    for metric in shown:
        table.add_column(metric.short, justify="right", no_wrap=True)
    for variant in stats:
        cells = []
        for metric in shown:
            interval = variant.intervals[metric.key]
            text = number(interval.mean)
            if interval.known and interval.half_width > 0:
                text += f"\n±{number(interval.half_width)}"
            cells.append(text)
        mark = marks.get(variant.label, "").strip(" ()")
        style = "bold green" if mark == "recommended" else ("dim" if mark else None)
        label = variant.label + (f"\n{mark}" if mark else "")
        table.add_row(label, *cells, style=style)
    return table
