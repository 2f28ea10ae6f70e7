"""How long the DCR load takes to come back to normal after each fault window, and its echo.

"Normal" is the same scenario and seed run without its fault windows (outages and
revocations): a counterfactual baseline, so the diurnal swing is not mistaken for a fault's
after-effect. The load is register + token requests per bin, summed over `SMOOTH` bins to
damp counting noise; a smoothed point is in tolerance when it is within `TOLERANCE` of the
baseline (or within counting noise, two Poisson standard deviations, when that is wider).

- **Recovery** is the time from the window's end to the first bin from which the load
  stays in tolerance for a sustained span: at least one token lifetime (and `SMOOTH`
  bins), the span in which a synchronised herd would come back. A herd that keeps
  swinging every lifetime never recovers: the report says so (None), whatever the noise.
- **The echo** is the largest relative deviation from the baseline in each token lifetime
  after the window's end (smoothed as above), so a planner sees the herd decay, or not.
- **One-second figures**: the most DCR requests in one second from the window's start to
  one lifetime after its end, beside the baseline's over the same span, and the time to
  drain — from the window's end to the last second of that span above the baseline's
  one-second peak (0 when none is). With several cohorts, `by_cohort` gives each cohort's
  own requests' one-second peak during the window and after it (with its baseline and
  drain): where retry policies differ.

Same scenario and seed, same figures: everything here is a pure function of the counts.
`sim.recovery` runs the baseline.
"""

from __future__ import annotations

import math
from typing import Any

from dcrload.model.counts import cohort_key

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


def _smoothed(load: list[int], index: int) -> int:
    return sum(load[index : index + SMOOTH])


def in_tolerance(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= max(TOLERANCE * theirs, NOISE_SDS * math.sqrt(theirs))


def sustain_bins(span: float, bin_width: float) -> int:
    """Smoothed points that must stay in tolerance: one `span` (a token lifetime), at
    least `SMOOTH`."""
    return max(SMOOTH, math.ceil(span / bin_width - 1e-9))


def recovery_after(
    load: list[int], baseline: list[int], end: float, bin_width: float, span: float = 0.0
) -> float | None:
    """Seconds from `end` until the smoothed load is in tolerance and stays so for `span`
    (at least `SMOOTH` bins); None when the run ends first."""
    first = min(len(load), int(end // bin_width))
    need = sustain_bins(span, bin_width)
    steady = 0
    for index in range(first, len(load) - SMOOTH + 1):
        ok = in_tolerance(_smoothed(load, index), _smoothed(baseline, index))
        steady = steady + 1 if ok else 0
        if steady >= need:
            recovered_bin = index - need + 1
            return max(0.0, recovered_bin * bin_width - end)
    return None


def echo_after(
    load: list[int], baseline: list[int], end: float, bin_width: float, lifetime: float
) -> list[float]:
    """The largest relative deviation |load - baseline| / baseline of the smoothed load in
    each whole token lifetime after `end` that the run holds (rounded to 4 places)."""
    per = max(1, round(lifetime / bin_width))
    first = min(len(load), int(end // bin_width))
    last = len(load) - SMOOTH + 1
    echoes = []
    for start in range(first, last - per + 1, per):
        worst = 0.0
        for index in range(start, start + per):
            theirs = _smoothed(baseline, index)
            ours = _smoothed(load, index)
            worst = max(worst, abs(ours - theirs) / theirs if theirs else float(ours > 0))
        echoes.append(round(worst, 4))
    return echoes


DCR = ("register", "token")


def drain_after(
    per_second: Any,
    baseline_per_second: Any,
    start: float,
    end: float,
    until: float,
    rows: tuple[str, ...] = DCR,
) -> dict[str, float]:
    """One-second peaks of `rows` together (DCR requests by default) over [start, until) of
    the run and of the baseline, and the seconds from `end` to the last second of the run
    above the baseline's peak."""
    ours = per_second.total_peak(rows, start, until)
    theirs = baseline_per_second.total_peak(rows, start, until)
    together: dict[int, int] = {}
    for row in rows:
        for second, n in per_second.counts.get(row, {}).items():
            if end <= second < until:
                together[second] = together.get(second, 0) + n
    above = [s for s, n in together.items() if n > theirs]
    return {
        "peak_rps_1s": float(ours),
        "baseline_peak_rps_1s": float(theirs),
        "drain_s": max(0.0, max(above) + 1 - end) if above else 0.0,
    }


def drain_by_cohort(
    scenario: Any, counts: Any, baseline_counts: Any, start: float, end: float, until: float
) -> dict[str, dict[str, float]]:
    """Each cohort's own DCR requests, one retry policy's herd told apart from the fleet's
    (a fleet-wide peak mixes every policy's): the one-second peak during the window (the
    retry storm), and after it `drain_after`'s figures over [end, until) (the return)."""
    figures = {}
    for index, cohort in enumerate(scenario.cohorts):
        row = (cohort_key(index),)
        after = drain_after(counts.per_second, baseline_counts.per_second, end, end, until, row)
        during = counts.per_second.total_peak(row, start, end)  # 0 for an instant (revocation)
        figures[cohort.name or f"cohort-{index}"] = {"peak_rps_1s_during": float(during), **after}
    return figures


def recovery_entries(
    scenario: Any,
    load: list[int],
    baseline: list[int],
    counts: Any = None,
    baseline_counts: Any = None,
) -> list[dict[str, Any]]:
    """One entry per fault window: recovery time, the echo per token lifetime and, given
    both runs' counts, the one-second peaks and the time to drain."""
    bin_width = scenario.scenario.bin
    lifetime = scenario.token.ttl
    entries = []
    for label, start, end in fault_windows(scenario):
        entry: dict[str, Any] = {
            "fault": label,
            "start_s": start,
            "end_s": end,
            "recovery_s": recovery_after(load, baseline, end, bin_width, lifetime),
            "sustained_s": sustain_bins(lifetime, bin_width) * bin_width,
            "echo": echo_after(load, baseline, end, bin_width, lifetime),
        }
        if counts is not None and baseline_counts is not None:
            until = min(scenario.scenario.duration, end + lifetime)
            entry.update(
                drain_after(counts.per_second, baseline_counts.per_second, start, end, until)
            )
            if len(scenario.cohorts) > 1:
                entry["by_cohort"] = drain_by_cohort(
                    scenario, counts, baseline_counts, start, end, until
                )
        entries.append(entry)
    return entries
