"""Golden outputs: every shipped scenario at a small size, as SimPy diffs its examples' .out.

`SMALL` shrinks each scenario to what runs in well under a second; `golden_summary` is its
`summary.json` without the `engine` section (wall time and event counts vary by engine).
The suite (`tests/test_golden.py`) diffs each against `tests/golden/<scenario>.json`.
After a deliberate change of the model, regenerate them all with

    .venv/bin/python tests/golden.py --write

and read the diff before committing it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SMALL: dict[str, list[str]] = {
    "default": ["fleet.instances=200"],
    "steady-state": ["fleet.instances=100"],
    "launch-day": ["fleet.installs.total=400", "server.workers=1"],
    "revocation-drill": ["fleet.instances=150"],
    "clock-drift": ["fleet.instances=150"],
    "outage-recovery": ["fleet.instances=150"],
    "anti-patterns": ["fleet.instances=150"],
    "strategy-shootout": ["fleet.instances=150"],
    "capacity-launch": ["fleet.instances=100", "fleet.installs.total=400"],
}
"""Overrides that shrink each shipped scenario (by file stem) for the golden runs."""


def scenario_of(name: str, extra: list[str] | None = None) -> Any:
    from dcrload.model.scenario import load_scenario

    return load_scenario(ROOT / "scenarios" / f"{name}.toml", [*SMALL[name], *(extra or [])])


def golden_summary(result: Any) -> dict[str, Any]:
    from dcrload.results.summary import summary_of

    summary = summary_of(result)
    summary.pop("engine")
    return summary


def run(name: str, extra: list[str] | None = None, **options: Any) -> dict[str, Any]:
    from sim.fleet import simulate

    return golden_summary(simulate(scenario_of(name, extra), **options))


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python tests/golden.py --write", file=sys.stderr)
        return 2
    GOLDEN.mkdir(exist_ok=True)
    for name in SMALL:
        path = GOLDEN / f"{name}.json"
        path.write_text(json.dumps(run(name), indent=1, sort_keys=True) + "\n")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
