"""How long the DCR load takes to come back to normal after each fault window.

"Normal" is the same scenario and seed run without its fault windows (outages and
revocations): a counterfactual baseline, so the diurnal swing is not mistaken for a fault's
after-effect. The load is register + token requests per bin, summed over `SMOOTH` bins to
damp counting noise. The load has recovered at the first bin at or after the window's end
from which it stays within `TOLERANCE` of the baseline (or within counting noise, two
Poisson standard deviations, when that is wider) for `SMOOTH` consecutive bins. A fleet
whose refreshes an outage has synchronised may never recover: that is the thundering herd,
and the report says so (None).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from dcrload.model.scenario import Scenario
from sim.fleet import SimulationResult, simulate

TOLERANCE = 0.10
SMOOTH = 3
NOISE_SDS = 2.0


def fault_windows(scenario: Scenario) -> list[tuple[str, float, float]]:
    """(label, start, end) of every outage and revocation, in scenario seconds."""
    faults = scenario.faults
    windows = [
        (f"outage {o.mode} at {o.start:g}s", o.start, o.start + o.duration) for o in faults.outages
    ]
    windows += [
        (f"revocation of {r.software_id} at {r.at:g}s", r.at, r.at) for r in faults.revocations
    ]
    return sorted(windows, key=lambda w: w[1])


def without_windows(scenario: Scenario) -> Scenario:
    faults = scenario.faults.model_copy(update={"outages": [], "revocations": []})
    return scenario.model_copy(update={"faults": faults})


def dcr_load(result: SimulationResult) -> list[int]:
    register, token = result.counters.per_bin("register"), result.counters.per_bin("token")
    return [a + b for a, b in zip(register, token, strict=True)]


def recovery_after(
    load: list[int], baseline: list[int], end: float, bin_width: float
) -> float | None:
    """Seconds from `end` until the smoothed load is back within tolerance (None: never)."""
    first = min(len(load), int(end // bin_width))
    steady = 0
    for index in range(first, len(load) - SMOOTH + 1):
        ours = sum(load[index : index + SMOOTH])
        theirs = sum(baseline[index : index + SMOOTH])
        allowed = max(TOLERANCE * theirs, NOISE_SDS * math.sqrt(theirs))
        steady = steady + 1 if abs(ours - theirs) <= allowed else 0
        if steady >= SMOOTH:
            recovered_bin = index - SMOOTH + 1
            return max(0.0, recovered_bin * bin_width - end)
    return None


def baseline_run(
    result: SimulationResult, progress: Callable[[float], None] | None = None
) -> SimulationResult | None:
    """The same scenario and seed without its fault windows (None when it has none)."""
    if not fault_windows(result.scenario):
        return None
    return simulate(without_windows(result.scenario), seed=result.seed, progress=progress)


def recovery_report(
    result: SimulationResult,
    progress: Callable[[float], None] | None = None,
    baseline: SimulationResult | None = None,
) -> list[dict[str, Any]]:
    """One entry per fault window with its recovery time; runs the baseline unless given."""
    windows = fault_windows(result.scenario)
    if not windows:
        return []
    if baseline is None:
        baseline = simulate(without_windows(result.scenario), seed=result.seed, progress=progress)
    load, base = dcr_load(result), dcr_load(baseline)
    bin_width = result.scenario.scenario.bin
    return [
        {
            "fault": label,
            "start_s": start,
            "end_s": end,
            "recovery_s": recovery_after(load, base, end, bin_width),
        }
        for label, start, end in windows
    ]
