"""Server-side faults of a replay, through the mock's admin API, at their scaled times.

Revocations and outages are the server's doing, so the replay asks the mock for them
(``POST /admin/revocations``, ``PUT /admin/outage``) when driver time reaches the
scenario's fault time; client-side faults (credential loss, clock drift, app updates along
the rollout curve) happen inside the instances, exactly as in the simulation.
`prepare_mock` also makes the mock match the compressed scenario: token lifetime
``ttl / time_scale`` with the scenario's jitter, and the per-device throttle *rate* times
`time_scale` (a device's request rate is compressed too; the burst stays).

Only the master (or the single local process) talks to the admin API. No Locust import;
`run_timeline` sleeps with `time.sleep`, which Locust's gevent patching makes cooperative.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from dataclasses import dataclass
from typing import Any

from dcrload.model.scenario import Scenario
from loadtests.timescale import DriverClock, mock_ttl

log = logging.getLogger("dcrload.faults")

OUTAGE_MODES = {"503": "503", "timeout": "hang", "401": "401"}
"""Scenario outage mode → the mock's outage mode (a hanging request times out)."""


class MockAdmin:
    """A tiny client of the mock's admin API (one request at a time, JSON in and out)."""

    def __init__(self, base_url: str, key: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"X-Admin-Key": self.key, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as answer:
            return json.loads(answer.read() or b"null")


@dataclass(frozen=True, slots=True)
class FaultStep:
    """One admin call at driver time `at` (simulated seconds)."""

    at: float
    label: str
    method: str
    path: str
    body: dict[str, Any]


def mock_settings(
    scenario: Scenario, scale: float, latency_ms: float = 0.0, throttle_rate: float = 0.0
) -> list[tuple[str, str, dict[str, Any]]]:
    """Admin calls that make the mock match the compressed scenario (and degrade it if asked)."""
    throttle = scenario.server.throttle
    calls: list[tuple[str, str, dict[str, Any]]] = [
        (
            "PUT",
            "/admin/ttl",
            {"ttl": mock_ttl(scenario.token.ttl, scale), "jitter": scenario.token.ttl_jitter},
        ),
        (
            "PUT",
            "/admin/throttle",
            {
                "enabled": throttle.enabled,
                "rate": throttle.rate * scale,
                "burst": throttle.burst,
                "retry_after": throttle.retry_after,
            },
        ),
    ]
    if throttle_rate > 0:
        calls.append(
            ("PUT", "/admin/throttle", {"enabled": True, "rate": throttle_rate, "burst": 1})
        )
    if latency_ms > 0:
        calls.append(("PUT", "/admin/latency", {"distribution": "fixed", "ms": latency_ms}))
    return calls


def fault_timeline(scenario: Scenario, scale: float) -> list[FaultStep]:
    """The admin calls that play the scenario's faults on the mock, in time order."""
    faults = scenario.faults
    steps: list[FaultStep] = []
    for revocation in faults.revocations:
        steps.append(
            FaultStep(
                revocation.at,
                f"revoke {revocation.software_id}",
                "POST",
                "/admin/revocations",
                {"software_id": revocation.software_id},
            )
        )
    for outage in faults.outages:
        steps.append(
            FaultStep(
                outage.start,
                f"outage {outage.mode} for {outage.duration:g} s",
                "PUT",
                "/admin/outage",
                {"mode": OUTAGE_MODES[outage.mode], "duration": outage.duration / scale},
            )
        )
    steps.sort(key=lambda s: s.at)
    duration = scenario.scenario.duration
    return [s for s in steps if s.at < duration]


def prepare_mock(admin: MockAdmin, calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    for method, path, body in calls:
        admin.call(method, path, body)


def run_timeline(admin: MockAdmin, clock: DriverClock, steps: list[FaultStep]) -> None:
    """Make each admin call when driver time reaches it (run in its own greenlet)."""
    for step in steps:
        wait = clock.wall(step.at) - time.time()
        if wait > 0:
            time.sleep(wait)
        try:
            admin.call(step.method, step.path, step.body)
            log.info("fault at %.0f s (simulated): %s", step.at, step.label)
        except OSError as error:
            log.error("fault %s failed: %s", step.label, error)
