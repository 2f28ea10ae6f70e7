"""What a run will cost before it starts: simulation events and memory, from the scenario.

A scenario that validates may still be one no machine can finish: a trillion instances, a
reinstall every millisecond, a token refreshed every 0.6 s by a strategy whose lead is
longer than the token's life, API calls 1 ms apart that the throttle makes the simulation
step one by one. `check_budget` refuses those up front, with the estimate in the message,
instead of running out of memory after a minute or running for days.

The estimate is deliberately simple — a few documented constants per instance-day, measured
on 2026-12-01 with `sim.fleet.simulate` on this project's 2-core machine (400 instances, one
day, one cohort per platform); the figures are within a factor of about two of the engine's
own count, which is all a refusal needs. Recalibrate them when the engine changes.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dcrload.core.errors import UsageError

if TYPE_CHECKING:  # annotations only: the scenario calls this module while validating
    from dcrload.model.scenario import Cohort, Scenario

DAY = 86400.0

EVENTS_PER_INSTANCE_DAY = {"mobile": 6.6, "tv": 10.0, "server": 13.0}
"""Engine events per instance and simulated day at the default 6 h token, before sessions
(measured 2026-12-01: mobile 8.6, tv 12.0, server 13.2 with 3 sessions a day)."""

EVENTS_PER_SESSION = 0.65
"""Events an app session adds (mobile, tv; measured: 30 sessions a day → 26.3 events)."""

EVENTS_PER_FAULT = 1.7
"""Events a credential loss, reinstall or clock step adds (measured: 10 a day → +17)."""

EVENTS_PER_TOKEN = 1.7
"""Events per token fetch when refreshes dominate (measured: mobile, 60 s TTL, a 5 min
lead: a refresh every 0.6 s of session, 16,600 events per instance-day)."""

BYTES_PER_INSTANCE = 2500
"""Peak memory per instance (tracemalloc peak over 5,000 instances: 2,200 bytes)."""

BYTES_PER_BIN = 400
"""Memory per time bin: a count per endpoint and outcome, gauges and tallies."""

MIN_TURN = 0.001
"""Shortest time a request and its answer take, seconds (bounds a retry loop's pace)."""

MAX_EVENTS = 5e8
"""Most events a run may need: about 3–6 CPU-hours at the measured 20–40 µs per event."""

MAX_BINS = 1_000_000
"""Most time bins a run may have (11.6 days at 1 s bins)."""

MEMORY_SHARE = 0.75
"""Share of this machine's physical memory a run may plan to use."""

FALLBACK_MEMORY = 4 * 2**30
"""Memory assumed when the machine does not say (the design's 4 GiB)."""


@dataclass(frozen=True, slots=True)
class Estimate:
    """What a run is expected to need; `biggest` names the term that dominates the events."""

    instances: float
    days: float
    bins: float
    events: float
    memory_bytes: float
    biggest: str


def machine_memory() -> int:
    """Physical memory of this machine in bytes (FALLBACK_MEMORY if it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return FALLBACK_MEMORY


def _safe(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def _session_seconds(scenario: Scenario) -> float:
    """Seconds per day an instance of a session-driven platform is in a session."""
    usage = scenario.usage
    try:
        mean = float(usage.session_length.mean)
    except (OverflowError, ValueError):
        mean = math.inf
    return min(DAY, _safe(usage.sessions_per_day * max(0.0, mean)))


def _refresh_period(cohort: Cohort, ttl: float) -> float:
    """Seconds between two token fetches of an instance that keeps its token fresh."""
    from dcrload.core.lifecycle import MIN_TOKEN_USE

    try:
        plan = cohort.refresh.plan(0.0, ttl, random.Random(0))
        period = plan.refresh_at
    except (OverflowError, ValueError):  # pragma: no cover - validated strategies plan
        period = ttl
    return max(period, MIN_TOKEN_USE * ttl, 1e-9)


def _cohort_events(scenario: Scenario, cohort: Cohort) -> dict[str, float]:
    """Events per instance-day of one cohort, by cause."""
    usage, faults, throttle = scenario.usage, scenario.faults, scenario.server.throttle
    platform = cohort.platform
    in_session = DAY if platform == "server" else _session_seconds(scenario)
    refreshing = in_session if platform == "mobile" else DAY  # tv timers fire in background
    sessions = 0.0 if platform == "server" else usage.sessions_per_day
    fault_rate = (
        faults.credential_loss_per_day + faults.reinstall_per_day + faults.clock.steps_per_day
    )
    terms = {
        "the fleet itself": EVENTS_PER_INSTANCE_DAY[platform],
        "usage.sessions_per_day": EVENTS_PER_SESSION * sessions,
        "faults (credential loss, reinstalls, clock steps)": EVENTS_PER_FAULT * fault_rate,
        "token refreshes (token.ttl against the refresh strategy)": EVENTS_PER_TOKEN
        * refreshing
        / _refresh_period(cohort, scenario.token.ttl),
    }
    api_calls = in_session / usage.api_interval
    refreshes = refreshing / _refresh_period(cohort, scenario.token.ttl)
    if cohort.antipattern == "no_token_cache":
        terms["antipattern no_token_cache (a token per API call)"] = EVENTS_PER_TOKEN * api_calls
    elif cohort.antipattern == "reregister_on_refresh":
        terms["antipattern reregister_on_refresh"] = EVENTS_PER_TOKEN * refreshes
    elif cohort.antipattern == "no_credential_store":
        terms["antipattern no_credential_store"] = EVENTS_PER_TOKEN * sessions
    terms["faults.outages (calls and retries while the server fails)"] = _outage_events(
        scenario, cohort, in_session
    )
    shared = platform == "server" and not cohort.forward_device_address
    if throttle.enabled and (shared or usage.api_interval * throttle.rate < 1.0):
        # the throttle could refuse a call: the simulation steps every API call
        terms["API calls stepped one by one (usage.api_interval under the throttle)"] = api_calls
    return {name: _safe(value) for name, value in terms.items()}


def _outage_events(scenario: Scenario, cohort: Cohort, in_session: float) -> float:
    """Events per instance-day spent in outages: each call is stepped and retried; an
    unbounded 401 loop spins for as long as a 401 outage lasts."""
    server, usage = scenario.server, scenario.usage
    policy = cohort.retry
    attempts = float(getattr(policy, "attempts", 0))
    wait = float(getattr(policy, "base", getattr(policy, "wait", 0.0)) or 0.0)
    turn = max(server.network_rtt + server.service_time.mean, server.timeout / 100, MIN_TURN)
    days = max(scenario.scenario.duration / DAY, 1e-9)
    total = 0.0
    for outage in scenario.faults.outages:
        length = min(outage.duration, scenario.scenario.duration)
        calls = 1.0 + length * (in_session / DAY) / usage.api_interval
        retries = min(attempts, 1.0 + length / max(wait, turn))
        total += calls * (1.0 + retries)
        if outage.mode == "401" and cohort.antipattern == "unbounded_401_loop":
            total += (in_session / DAY) * length / turn
    return total / days


def estimate(scenario: Scenario) -> Estimate:
    """Events and memory a simulation of `scenario` is expected to need."""
    info, fleet = scenario.scenario, scenario.fleet
    days = info.duration / DAY
    installs = fleet.installs
    if installs.kind == "constant":
        added = _safe(installs.per_day * days)
    elif installs.kind == "launch":
        added = float(installs.total)
    else:
        added = 0.0
    instances = float(fleet.instances) + added
    by_cause: dict[str, float] = {}
    for cohort in scenario.cohorts:
        for name, value in _cohort_events(scenario, cohort).items():
            by_cause[name] = by_cause.get(name, 0.0) + cohort.share * value
    instance_days = _safe(instances * days)
    events = _safe(sum(by_cause.values()) * instance_days)
    biggest = max(by_cause, key=lambda name: by_cause[name])
    if added > fleet.instances:
        biggest = f"fleet.installs ({added:,.0f} installs)"
    bins = _safe(math.ceil(_safe(info.duration / info.bin)))
    memory = _safe(
        BYTES_PER_INSTANCE * instances + BYTES_PER_BIN * bins + 8 * scenario.server.workers
    )
    return Estimate(instances, days, bins, events, memory, biggest)


def _amount(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    return f"{value:,.0f}" if value < 1e15 else f"{value:.2g}"


def _bytes(value: float) -> str:
    if not math.isfinite(value):
        return "unbounded"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value / 1e3:,.0f} kB"


def check_budget(scenario: Scenario, source: str, memory: int | None = None) -> Estimate:
    """Raise UsageError if the run cannot finish on this machine; return the estimate.

    Refused: more than `MAX_BINS` time bins, more than `MAX_EVENTS` events, or more memory
    than `MEMORY_SHARE` of `memory` (default: this machine's physical memory).
    """
    found = estimate(scenario)
    info = scenario.scenario
    if found.bins > MAX_BINS:
        raise UsageError(
            f"{source}: scenario.bin: {_amount(found.bins)} bins of {info.bin:g} s over "
            f"{info.duration:g} s, at most {MAX_BINS:,}; use a wider bin or a shorter run"
        )
    allowed = MEMORY_SHARE * (memory if memory is not None else machine_memory())
    size = f"{_amount(found.instances)} instances over {found.days:.3g} days"
    if found.memory_bytes > allowed:
        raise UsageError(
            f"{source}: this run needs about {_bytes(found.memory_bytes)} of memory ({size}), "
            f"more than the {_bytes(allowed)} it may use here; lower fleet.instances or the "
            "installs"
        )
    if found.events > MAX_EVENTS:
        raise UsageError(
            f"{source}: this run needs about {_amount(found.events)} simulation events "
            f"({size}; most from {found.biggest}), more than the {MAX_EVENTS:.0e} that "
            "finish in a few hours; shrink the fleet, the duration or that cause"
        )
    return found
