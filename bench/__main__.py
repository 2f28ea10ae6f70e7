"""`python -m bench [NAME ...] [--tiny] [--out DIR] [-- ARGS]`: run the comparisons.

Each benchmark runs as its own process (`bench/bench_<name>.py`; the Locust one imports
locust, which patches the standard library) and writes `bench/results/<name>.json`; this
entry then adds what every result carries (`bench.common.finish`: machine, date, load
average before and after, a short table of both sides and their ratio) and prints the
table. `--tiny` runs each at the smoke size the test suite uses; `--out DIR` writes the
results there instead of bench/results/ (the suite's smoke run does, so real figures
stay). Arguments after `--` go to the benchmark (one NAME only), e.g.
`python -m bench mock -- --url http://127.0.0.1:3000/token`.

Names: sim (dcrload vs raw SimPy, events/s), scale (10k/100k/1M instance-days, the sampled
10M), mock (token and API routes vs bare routes, token vs the Authlib reference server on
Waitress, `--url` any server), locust (lifecycle users vs
FastHttpUser), overload (the mock at many times its capacity).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import RESULTS, finish, load_average, table  # noqa: E402

TINY: dict[str, list[str]] = {
    "sim": ["--instances", "100", "--duration", "1h"],
    "scale": ["--tiny"],
    "mock": ["--seconds", "0.15", "--generators", "1", "--warmup", "0.05", "--rounds", "1"],
    "locust": ["--seconds", "2", "--users", "1", "--overhead-seconds", "0.1"],
    "overload": ["--smoke"],
}
"""The smoke size of each benchmark (a few seconds each)."""


def _sim(data: dict[str, Any]) -> str:
    d, r = data["dcrload"], data["raw_simpy"]
    rows = [["dcrload", d["events"], d["wall_seconds"], d["events_per_second"]],
            ["raw SimPy", r["timeouts"], r["wall_seconds"], r["timeouts_per_second"]]]  # fmt: skip
    ratio = data["ratio_dcrload_to_raw_simpy"]
    return table(["side", "events", "wall s", "events/s"], rows) + f"\nratio {ratio} (goal ≥ 0.5)"


def _mock(data: dict[str, Any]) -> str:
    rows = [[name, t["requests_per_second"], t["server_cpu_us_per_request"]["median"]]
            for name, t in data["targets"].items()]  # fmt: skip
    ratios = " ".join(f"{k[6:]}={v}" for k, v in data.items() if k.startswith("ratio_"))
    shape = data.get("independent_load") or {}
    independent = (
        f"\nindependent measured at {shape['connections_per_generator']} connection(s) per"
        f" generator, pipeline {shape['pipeline']} (its best of {len(shape['tried'])} tried)"
        if shape
        else ""
    )
    return table(["target", "req/s", "server CPU µs"], rows) + f"\nratios: {ratios}{independent}"


def _locust(data: dict[str, Any]) -> str:
    rows = [[k, v] for k, v in data.items() if isinstance(v, int | float)]
    return table(["figure", "value"], rows)


def _overload(data: dict[str, Any]) -> str:
    keys = ("capacity_rps", "offered_rps", "achieved_rps", "shed_share", "timeouts")
    return table(["figure", "value"], [[k, data.get(k)] for k in keys if k in data])


TABLES: dict[str, Callable[[dict[str, Any]], str] | None] = {
    "sim": _sim,
    "scale": None,  # writes its own, through bench.common
    "mock": _mock,
    "locust": _locust,
    "overload": _overload,
}


def run(name: str, extra: list[str], out_dir: Path) -> int:
    out = out_dir / f"{name}.json"
    before = load_average()
    command = [sys.executable, str(REPO / "bench" / f"bench_{name}.py"), *extra, "--out", str(out)]
    print(f"== bench {name}: {' '.join(command[1:])}", flush=True)
    done = subprocess.run(command, cwd=REPO, check=False, timeout=7200)
    if done.returncode != 0:
        print(f"bench {name} failed (exit {done.returncode})", file=sys.stderr)
        return done.returncode
    render = TABLES[name]
    if render is not None:
        data = json.loads(out.read_text())
        finish(name, data, render(data), out, before)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        at = argv.index("--")
        argv, extra = argv[:at], argv[at + 1 :]
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[[], *TABLES], metavar="NAME", default=[])
    parser.add_argument("--tiny", action="store_true", help="smoke size (what the suite runs)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    names = args.names or list(TABLES)
    if extra and len(names) != 1:
        parser.error("arguments after -- need exactly one NAME")
    status = 0
    for name in names:
        status = status or run(name, [*(TINY[name] if args.tiny else []), *extra], args.out)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
