"""Benchmark: instance-days per CPU second of `simulate` at 10k/100k/1M, next to raw SimPy.

Covers: issue 13's scale targets. Each size runs in a fresh child process (so peak RSS is
that run's own) on the default cohort mix over one simulated day, with `--jobs`; the
sampled 10M run uses `--sample`, once with the server sized as the default scenario's
(32 workers per 20,000 instances: 16,000) and once with the scenario's own 32 workers.
Before the timed run, a 200-instance hour in the same process loads what a run loads
lazily (numpy, the counts' binning); its CPU is recorded apart (`warmup_cpu_s`). Wall, CPU
seconds of the run and its children, peak RSS, events per instance-day and CPU µs per
instance-day are recorded for each. In the same run a raw SimPy loop of a fixed
size (RAW_TIMEOUTS timeouts over RAW_PROCESSES processes) is timed, so a figure measured
on a busy machine can be normalised: `normalised` is the run's CPU seconds divided by the
raw loop's.

Targets: 1M instance-days in ≤ 60 s wall with `--jobs 2` and ≤ 4 GiB, CPU per
instance-day flat within 25 % from 10k to 1M, 10M sampled within 60 s.

Run: ``python -m bench scale [--sizes 10000,100000,1000000] [--jobs 2] [--sample-size
10000000] [--sample 0.01]``; ``--tiny`` is the suite's smoke size.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import finish, load_average, table  # noqa: E402

RAW_PROCESSES = 10_000
RAW_TIMEOUTS = 200_000

CHILD = r"""
import gc, json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from dcrload import native
from dcrload.model.scenario import load_scenario
from sim.fleet import simulate
import sim.plainday
n, jobs, sample, duration = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
workers = [f"server.workers={sys.argv[6]}"] if sys.argv[6] != "-" else []
scenario = load_scenario(sys.argv[1] + "/scenarios/default.toml",
                         [f"fleet.instances={n}", f"scenario.duration={duration}", *workers],
                         budget=sample >= 1.0)  # a sample's budget is the sample's
# warm-up: a 200-instance hour in this process loads every lazily imported module (numpy,
# the counts' binning) once, so the timed run below costs what an instance-day costs
warm = time.process_time()
simulate(load_scenario(sys.argv[1] + "/scenarios/default.toml",
                       ["fleet.instances=200", "scenario.duration=1h"]), jobs=1)
warm = time.process_time() - warm
wall, cpu = time.perf_counter(), time.process_time()
result = simulate(scenario, jobs=jobs, sample=sample)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "wall": wall, "cpu_parent": cpu, "warmup_cpu": warm,
    "cpu_children": children.ru_utime + children.ru_stime,
    "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "rss_children_mib": children.ru_maxrss / 1024,
    "events": result.events, "engine": result.engine.get("mode"),
    "simulated": (result.engine.get("sample") or {}).get("instances_simulated", n),
    "token": result.counters.total("token"),
    "workers": scenario.server.workers,
    "compiled": native.compiled(sim.plainday),
}))
"""


def raw_simpy(timeouts: int = RAW_TIMEOUTS) -> float:
    """CPU seconds of a fixed raw SimPy loop (the normaliser)."""
    import simpy

    env = simpy.Environment()
    each = max(1, timeouts // RAW_PROCESSES)

    def ticker(step: float) -> Any:
        for _ in range(each):
            yield env.timeout(step)

    for index in range(RAW_PROCESSES):
        env.process(ticker(1.0 + index % 97))
    started = time.process_time()
    env.run()
    return time.process_time() - started


def run_size(
    n: int, jobs: int, sample: float, duration: str, workers: int | None = None
) -> dict[str, Any]:
    """One size in a fresh child process; `workers` overrides the scenario's DCR workers."""
    extra = "-" if workers is None else str(workers)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO), str(n), str(jobs), str(sample), duration, extra],
        capture_output=True, text=True, check=False, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"bench scale: {n} instances failed:\n{done.stderr[-3000:]}")
    print(f"  {n:,} instances, sample {sample:g}: done", flush=True)
    data = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = data["cpu_parent"] + data["cpu_children"]
    days = n * _days(duration)
    return {
        "instances": n,
        "jobs": jobs,
        "sample": sample,
        "server_workers": data["workers"],
        "wall_s": round(data["wall"], 2),
        "cpu_s": round(cpu, 2),
        "warmup_cpu_s": round(data["warmup_cpu"], 2),
        "peak_rss_mib": round(max(data["rss_mib"], data["rss_children_mib"]), 1),
        "events_per_instance_day": round(data["events"] / (data["simulated"] * _days(duration)), 2),
        "cpu_us_per_instance_day": round(cpu / days * 1e6, 1),
        "engine": data["engine"],
        "token_requests": data["token"],
        "compiled": data["compiled"],
    }


def marginal(runs: list[dict[str, Any]], days: float) -> list[dict[str, Any]]:
    """CPU per instance-day between consecutive sizes: what one more instance costs.

    A run has a cost that does not grow with the fleet (`fixed_cost`: the default
    scenario's 400 installs a day at every size, which run on the agent, each shard's
    set-up and per-second rows, the parent's merge: 0.2–0.5 CPU-s), which the average
    per instance-day of a small fleet carries; the marginal cost is what tells whether
    the cost per instance grows with the fleet."""
    steps = []
    for small, large in itertools.pairwise(runs):
        added = (large["instances"] - small["instances"]) * days
        if added > 0:
            cost = (large["cpu_s"] - small["cpu_s"]) / added * 1e6
            steps.append({"from": small["instances"], "to": large["instances"],
                          "cpu_us_per_instance_day": round(cost, 1)})  # fmt: skip
    return steps


def marginal_ratio(steps: list[dict[str, Any]]) -> float | None:
    """The marginal cost at the largest sizes over that at the smallest; None without two
    steps to compare, or when the first is not positive (tiny fleets, whose CPU the
    machine's noise outweighs)."""
    if len(steps) < 2 or steps[0]["cpu_us_per_instance_day"] <= 0:
        return None
    return round(steps[-1]["cpu_us_per_instance_day"] / steps[0]["cpu_us_per_instance_day"], 3)


def fixed_cost(runs: list[dict[str, Any]], days: float) -> float | None:
    """CPU seconds of a run that do not grow with the fleet: the smallest run's CPU less
    its instances at the first marginal cost (the straight line through the two smallest
    runs, at zero instances)."""
    steps = marginal(runs, days)
    if not steps:
        return None
    small = runs[0]
    per_instance = steps[0]["cpu_us_per_instance_day"] * 1e-6 * days
    return round(small["cpu_s"] - per_instance * small["instances"], 2)


def _workers_per_instance() -> float:
    """DCR workers per instance of the default scenario (32 for 20,000)."""
    from dcrload.model.scenario import load_scenario

    default = load_scenario(REPO / "scenarios" / "default.toml")
    return default.server.workers / default.fleet.instances


def _days(duration: str) -> float:
    from dcrload.core.durations import parse_duration

    return parse_duration(duration) / 86400.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--sample-size", type=int, default=10_000_000)
    parser.add_argument("--sample", type=float, default=0.01)
    parser.add_argument("--duration", default="1d")
    parser.add_argument("--tiny", action="store_true", help="the suite's smoke size")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    raw_timeouts = RAW_TIMEOUTS
    if args.tiny:
        args.sizes, args.sample_size, args.sample, args.duration = "100,200", 1000, 0.25, "1h"
        raw_timeouts = RAW_TIMEOUTS // 10
    before = load_average()
    raw = raw_simpy(raw_timeouts)
    runs = [run_size(int(n), args.jobs, 1.0, args.duration) for n in args.sizes.split(",")]
    if args.sample_size:
        # the fleet's server sized as the default scenario's (32 workers per 20,000
        # instances), and the scenario's own 32 workers, 500x overloaded at 10M: its sample
        # keeps one worker, queues, and runs on the event engine
        sized = max(1, round(_workers_per_instance() * args.sample_size))
        runs.append(run_size(args.sample_size, args.jobs, args.sample, args.duration, sized))
        if not args.tiny:
            runs.append(run_size(args.sample_size, args.jobs, args.sample, args.duration))
    for run in runs:
        run["normalised"] = round(run["cpu_s"] / raw, 3)
    first = runs[0]["cpu_us_per_instance_day"]
    unsampled = [r for r in runs if r["sample"] >= 1.0]
    steps = marginal(unsampled, _days(args.duration))
    figures = {
        "duration": args.duration,
        "raw_simpy": {"processes": RAW_PROCESSES, "timeouts": raw_timeouts, "cpu_s": round(raw, 3)},
        "runs": runs,
        "ratio_cpu_per_instance_day_largest_to_smallest": round(
            unsampled[-1]["cpu_us_per_instance_day"] / first, 3
        ),
        "marginal": steps,
        "ratio_marginal_largest_to_smallest": marginal_ratio(steps),
        "fixed_cpu_s": fixed_cost(unsampled, _days(args.duration)),
        "goals": {"flat_within": 1.25, "cpu_us_per_instance_day": 120, "wall_1m_s": 60},
    }
    header = ["instances", "sample", "workers", "wall s", "CPU s", "peak MiB", "events/inst-day",
              "CPU µs/inst-day", "÷ raw SimPy"]  # fmt: skip
    rows = [[r["instances"], r["sample"], r["server_workers"], r["wall_s"], r["cpu_s"],
             r["peak_rss_mib"], r["events_per_instance_day"], r["cpu_us_per_instance_day"],
             r["normalised"]]
            for r in runs]  # fmt: skip
    text = table(header, rows) + f"\nraw SimPy loop: {raw:.2f} CPU s"
    compiled = {run["compiled"] for run in runs}
    text += "\nplain day: " + ("compiled (mypyc, setup.py)" if compiled == {True} else
                               "run as Python" if compiled == {False} else "mixed")  # fmt: skip
    for step in figures["marginal"]:
        text += (f"\nmarginal {step['from']:,} → {step['to']:,}: "
                 f"{step['cpu_us_per_instance_day']} CPU µs per instance-day")  # fmt: skip
    if figures["ratio_marginal_largest_to_smallest"] is not None:
        text += (f"\nmarginal cost, the later step ÷ the earlier: "
                 f"{figures['ratio_marginal_largest_to_smallest']} (flat within 25 %: 0.8–1.25);"
                 f" fixed cost of a run {figures['fixed_cpu_s']} CPU s")  # fmt: skip
    finish("scale", figures, text, args.out, before)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
