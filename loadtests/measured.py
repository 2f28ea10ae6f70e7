"""What a replay measured, in the simulation's own result type.

The processes of a replay count requests exactly as the simulation does (`sim.counters`,
by endpoint, outcome and bin of *simulated* time) and send the counts as plain JSON
(`loadtests.fleet.LiveFleet.snapshot`, merged by `merge_snapshots`). `measured_result`
rebuilds a `sim.fleet.SimulationResult` from them, so `summary.json`, `timeseries.csv`
and the report of a load test are written by the same code, in the same formats, as those
of `dcrload simulate`. No Locust import.
"""

from __future__ import annotations

from typing import Any

from dcrload.model.scenario import Scenario
from sim.counters import Counters, Gauge, Tally
from sim.fleet import SimulationResult


def _tally(duration: float, width: float, per_bin: list[int]) -> Tally:
    tally = Tally(duration, width)
    for index, count in enumerate(per_bin[: len(tally.per_bin)]):
        tally.per_bin[index] += count
        tally.total += count
    return tally


def measured_result(
    scenario: Scenario, seed: int, measured: dict[str, Any], wall_seconds: float = 0.0
) -> SimulationResult:
    """A `SimulationResult` holding what the replay measured (`measured`: merged snapshots)."""
    duration = scenario.scenario.duration
    width = scenario.scenario.bin
    counters = Counters(duration, width)
    for endpoint, outcome, row in measured.get("series", []):
        for index, count in enumerate(row):
            if count:
                counters.add(endpoint, outcome, index * width, count)
    blocked = Gauge(duration, width)
    for index, area in enumerate(measured.get("blocked_area", [])[: blocked.bins]):
        blocked.area[index] = float(area)
    blocked.peak = int(measured.get("blocked_peak", 0))
    return SimulationResult(
        cohorts=measured.get("cohorts", {}),
        scenario=scenario,
        seed=seed,
        duration=duration,
        counters=counters,
        blocked=blocked,
        reauthentications=_tally(duration, width, measured.get("reauthentications", [])),
        expired_calls=_tally(duration, width, measured.get("expired_calls", [])),
        installs=int(measured.get("installs", 0)),
        cold_instances=int(measured.get("cold_instances", 0)),
        losses=int(measured.get("losses", 0)),
        updates=int(measured.get("updates", 0)),
        api_wanted=int(measured.get("api_wanted", 0)),
        failed_api_calls=int(measured.get("failed_api_calls", 0)),
        clients_registered=int(measured.get("clients_registered", 0)),
        tokens_issued=int(measured.get("tokens_issued", 0)),
        events=int(measured.get("events", 0)),
        wall_seconds=wall_seconds,
    )
