"""Benchmark: simulated events per second of `dcrload simulate`, next to raw SimPy, same run.

Covers: issue 2's speed figure. Two measurements on the same machine, one after the other:

- ``dcrload``: `sim.simulate` on a scenario (default `scenarios/default.toml`, optionally
  resized with ``--instances`` and ``--duration``); events are the engine's own count
  (`summary.json`'s ``engine.events``: requests and scheduled wake-ups);
- ``raw_simpy``: the same number of SimPy processes (installed base plus installs), each
  doing nothing but ``yield env.timeout(step)``, for the same total number of timeouts as
  the dcrload run had events. Steps differ by process so the event heap is really ordered.

DESIGN.md's goal is a ratio ``dcrload / raw_simpy`` of at least 0.5 (and a fleet of
1,000,000 instances over one simulated day in at most 60 s on a 2-core machine).

Other processes on the machine disturb both figures; ``--repeat N`` measures each side N
times and keeps the fastest.

Run: ``python bench/bench_sim.py [--instances N] [--duration 1d] [--scenario FILE]
[--repeat N]``; writes ``bench/results/sim.json`` and prints the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Generator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import simpy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dcrload.model.scenario import load_scenario  # noqa: E402
from sim.fleet import simulate  # noqa: E402

RESULTS = REPO / "bench" / "results" / "sim.json"
DEFAULT_SCENARIO = REPO / "scenarios" / "default.toml"
STEP_SPREAD = 97  # distinct timeout steps among the raw processes


def run_dcrload(scenario_path: Path, overrides: list[str]) -> dict[str, Any]:
    """Simulate the scenario once; return its size, events and wall time."""
    scenario = load_scenario(scenario_path, overrides)
    started = time.perf_counter()
    result = simulate(scenario)
    wall = time.perf_counter() - started
    processes = scenario.fleet.instances + result.installs
    return {
        "scenario": scenario.name,
        "instances": scenario.fleet.instances,
        "installs": result.installs,
        "processes": processes,
        "simulated_seconds": result.duration,
        "events": result.events,
        "wall_seconds": round(wall, 4),
        "engine_wall_seconds": round(result.wall_seconds, 4),
        "events_per_second": round(result.events / wall, 1),
        "requests": {e: result.counters.total(e) for e in ("register", "token", "api")},
    }


def _ticker(env: simpy.Environment, count: int, step: float) -> Generator[Any, Any, None]:
    """One raw process: `count` timeouts of `step` seconds, nothing else."""
    for _ in range(count):
        yield env.timeout(step)


def run_raw_simpy(processes: int, timeouts: int, duration: float) -> dict[str, Any]:
    """`processes` processes sharing `timeouts` timeouts over about `duration` seconds."""
    processes = max(1, processes)
    env = simpy.Environment()
    each, extra = divmod(timeouts, processes)
    started = time.perf_counter()
    for index in range(processes):
        count = each + (1 if index < extra else 0)
        if count:
            step = duration / count * (0.5 + (index % STEP_SPREAD) / STEP_SPREAD)
            env.process(_ticker(env, count, step))
    env.run()
    wall = time.perf_counter() - started
    return {
        "processes": processes,
        "timeouts": timeouts,
        "wall_seconds": round(wall, 4),
        "timeouts_per_second": round(timeouts / wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO)
    parser.add_argument("--instances", type=int, help="installed base (default: the scenario's)")
    parser.add_argument("--duration", help='simulated time, e.g. "1d" (default: the scenario\'s)')
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--repeat", type=int, default=1, help="measure each side N times, keep the fastest"
    )
    args = parser.parse_args(argv)
    repeat = max(1, args.repeat)

    overrides = []
    if args.instances is not None:
        overrides.append(f"fleet.instances={args.instances}")
    if args.duration is not None:
        overrides.append(f"scenario.duration={args.duration}")

    print(f"dcrload: simulating {args.scenario} {' '.join(overrides)}".rstrip(), flush=True)
    dcr = min(
        (run_dcrload(args.scenario, overrides) for _ in range(repeat)),
        key=lambda r: r["wall_seconds"],
    )
    print(
        f"  {dcr['events']:,} events, {dcr['processes']:,} instances, "
        f"{dcr['wall_seconds']:.2f} s: {dcr['events_per_second']:,.0f} events/s",
        flush=True,
    )
    print(f"raw SimPy: {dcr['processes']:,} processes, {dcr['events']:,} timeouts", flush=True)
    raw = min(
        (
            run_raw_simpy(dcr["processes"], dcr["events"], dcr["simulated_seconds"])
            for _ in range(repeat)
        ),
        key=lambda r: r["wall_seconds"],
    )
    print(
        f"  {raw['wall_seconds']:.2f} s: {raw['timeouts_per_second']:,.0f} timeouts/s",
        flush=True,
    )
    ratio = dcr["events_per_second"] / raw["timeouts_per_second"]
    figures = {
        "benchmark": "sim",
        "when": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "simpy": simpy.__version__,
            "platform": platform.platform(),
        },
        "repeat": repeat,
        "dcrload": dcr,
        "raw_simpy": raw,
        "ratio_dcrload_to_raw_simpy": round(ratio, 3),
        "goal_ratio": 0.5,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"ratio dcrload/raw SimPy: {ratio:.2f} (goal >= 0.5); written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
