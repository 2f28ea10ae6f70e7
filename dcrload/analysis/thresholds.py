"""Thresholds (k6-style pass/fail limits) checked against what a load test measured.

`[loadtest.thresholds]` in a scenario sets limits such as ``token_p95_ms = 250`` or
``expired_token_share = 0``. `measured_values` turns a run's endpoint summary, impact and
Locust latency percentiles into the same names; `check` lists the breached limits. A
breached threshold makes `dcrload loadtest` (and the locustfile on its own) exit with
`EXIT_THRESHOLDS`. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dcrload.model.scenario import Thresholds

EXIT_THRESHOLDS = 3
"""Exit status when at least one threshold is breached."""

ENDPOINTS = ("register", "token", "api")


@dataclass(frozen=True, slots=True)
class Breach:
    """One threshold the run did not keep: `value` went past `limit`."""

    name: str
    limit: float
    value: float

    def describe(self) -> str:
        return f"{self.name}: {self.value:.4g} > {self.limit:.4g}"


def error_rate(by_outcome: Mapping[str, int]) -> float:
    """Share of requests whose outcome is not a 2xx status (timeouts and errors count)."""
    total = sum(by_outcome.values())
    if total == 0:
        return 0.0
    bad = sum(n for outcome, n in by_outcome.items() if not outcome.startswith("2"))
    return bad / total


def measured_values(
    endpoints: Mapping[str, Any],
    impact: Mapping[str, Any],
    latency_p95_ms: Mapping[str, float],
) -> dict[str, float]:
    """The measured value of every threshold name (latencies in ms, rates as shares)."""
    values: dict[str, float] = {}
    for endpoint in ENDPOINTS:
        data = endpoints.get(endpoint, {})
        values[f"{endpoint}_error_rate"] = error_rate(data.get("by_outcome", {}))
        if endpoint in latency_p95_ms:
            values[f"{endpoint}_p95_ms"] = float(latency_p95_ms[endpoint])
    api_calls = endpoints.get("api", {}).get("requests", 0)
    expired = impact.get("expired_token_calls", 0)
    values["expired_token_share"] = expired / api_calls if api_calls else 0.0
    return values


def check(thresholds: Thresholds, values: Mapping[str, float]) -> list[Breach]:
    """The thresholds set in `thresholds` that `values` breach (a missing value passes)."""
    breaches = []
    for name, limit in thresholds.model_dump().items():
        if limit is None or name not in values:
            continue
        if values[name] > limit:
            breaches.append(Breach(name, float(limit), float(values[name])))
    return breaches
