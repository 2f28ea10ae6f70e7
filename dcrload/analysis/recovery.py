"""How long the DCR load takes to come back to normal after each fault window.

"Normal" is the same scenario and seed run without its fault windows (outages and
revocations): a counterfactual baseline, so the diurnal swing is not mistaken for a fault's
after-effect. The load is register + token requests per bin, summed over `SMOOTH` bins to
damp counting noise. The load has recovered at the first bin at or after the window's end
from which it stays within `TOLERANCE` of the baseline (or within counting noise, two
Poisson standard deviations, when that is wider) for `SMOOTH` consecutive bins. A fleet
whose refreshes an outage has synchronised may never recover: that is the thundering herd,
and the report says so (None). Pure functions; `sim.recovery` runs the baseline.
"""

from __future__ import annotations

import math
from typing import Any

TOLERANCE = 0.10
SMOOTH = 3
NOISE_SDS = 2.0


def fault_windows(scenario: Any) -> list[tuple[str, float, float]]:
    """(label, start, end) of every outage and revocation, in scenario seconds."""
    faults = scenario.faults
    windows = [
        (f"outage {o.mode} at {o.start:g}s", o.start, o.start + o.duration) for o in faults.outages
    ]
    windows += [
        (f"revocation of {r.software_id} at {r.at:g}s", r.at, r.at) for r in faults.revocations
    ]
    return sorted(windows, key=lambda w: w[1])


def without_windows(scenario: Any) -> Any:
    """The same scenario with no outage and no revocation (the recovery baseline)."""
    faults = scenario.faults.model_copy(update={"outages": [], "revocations": []})
    return scenario.model_copy(update={"faults": faults})


def dcr_load(counters: Any) -> list[int]:
    """Register + token requests per bin."""
    register, token = counters.per_bin("register"), counters.per_bin("token")
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


def recovery_entries(scenario: Any, load: list[int], baseline: list[int]) -> list[dict[str, Any]]:
    """One entry per fault window with its recovery time."""
    bin_width = scenario.scenario.bin
    return [
        {
            "fault": label,
            "start_s": start,
            "end_s": end,
            "recovery_s": recovery_after(load, baseline, end, bin_width),
        }
        for label, start, end in fault_windows(scenario)
    ]
