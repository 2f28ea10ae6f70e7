"""What a replay measured, in the simulation's own result type.

The processes of a replay count with the very recorder the simulation uses
(`dcrload.model.counts.RunCounts`, by endpoint, outcome and bin of *simulated* time) and
send the counts as plain JSON (`loadtests.driver.LocustDriver.snapshot`, merged by
`merge_snapshots`). `measured_result` rebuilds a `RunResult` from them, so `summary.json`,
`timeseries.csv` and the report of a load test are written by the same code, in the same
formats, as those of `dcrload simulate`. No Locust import.
"""

from __future__ import annotations

from typing import Any

from dcrload.model.counts import RunCounts, RunResult
from dcrload.model.scenario import Scenario


def measured_result(
    scenario: Scenario, seed: int, measured: dict[str, Any], wall_seconds: float = 0.0
) -> RunResult:
    """A `RunResult` holding what the replay measured (`measured`: merged snapshots)."""
    info = scenario.scenario
    counts = RunCounts(info.duration, info.bin, len(scenario.cohorts))
    counts.merge(measured.get("counts", {}))
    return RunResult(
        scenario=scenario,
        seed=seed,
        duration=info.duration,
        counts=counts,
        installs=int(measured.get("installs", 0)),
        cold_instances=int(measured.get("cold_instances", 0)),
        clients_registered=int(measured.get("clients_registered", 0)),
        tokens_issued=int(measured.get("tokens_issued", 0)),
        events=int(measured.get("events", 0)),
        wall_seconds=wall_seconds,
        engine={"mode": "locust", "workers": int(measured.get("workers", 1))},
    )
