"""Faults the mock can be told to inject: outages, added latency, random errors.

They apply to the public DCR and API routes only (never to ``/admin``, ``/healthz`` or
``/openapi.json``), after the throttle. `Faults.apply` sleeps as the fault says and returns
the status to answer with instead of the real route, or None to go on.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

OUTAGE_MODES = ("503", "hang", "slow", "401")
"""503: refuse at once; hang: hold the request; slow: add a delay; 401: the API rejects every
access token (a botched signing-key rotation) while the DCR routes work."""
DISTRIBUTIONS = ("fixed", "uniform", "exponential", "lognormal")
MAX_DELAY = 30.0  # seconds; no single injected delay is longer
MAX_SIGMA = 5.0  # of the lognormal latency: past it, draws overflow a float


class FaultError(ValueError):
    """A fault description that makes no sense (the admin API answers 400)."""


@dataclass
class Outage:
    mode: str = "503"
    until: float = math.inf  # clock time the outage ends
    delay: float = 5.0  # seconds added per request in "slow" mode


@dataclass
class Latency:
    """An added-latency distribution; parameters in milliseconds."""

    distribution: str = "fixed"
    params: dict[str, float] = field(default_factory=dict)

    def sample(self, rng: random.Random) -> float:
        """One delay, in seconds, capped at `MAX_DELAY`."""
        p = self.params
        if self.distribution == "fixed":
            ms = p.get("ms", 0.0)
        elif self.distribution == "uniform":
            ms = rng.uniform(p.get("low_ms", 0.0), p.get("high_ms", 0.0))
        elif self.distribution == "exponential":
            ms = rng.expovariate(1.0 / p["mean_ms"]) if p.get("mean_ms", 0) > 0 else 0.0
        else:
            ms = rng.lognormvariate(
                math.log(max(p.get("median_ms", 1.0), 1e-9)), p.get("sigma", 0.5)
            )
        return min(max(ms, 0.0) / 1000.0, MAX_DELAY)


def parse_latency(body: dict[str, Any]) -> Latency:
    """`Latency` from an admin request body; raise `FaultError` when it is wrong."""
    distribution = body.get("distribution", "fixed")
    if distribution not in DISTRIBUTIONS:
        raise FaultError(f"distribution must be one of {', '.join(DISTRIBUTIONS)}")
    params: dict[str, float] = {}
    for name, value in body.items():
        if name == "distribution":
            continue
        if name not in ("ms", "low_ms", "high_ms", "mean_ms", "median_ms", "sigma"):
            raise FaultError(f"unknown latency parameter {name!r}")
        high = MAX_SIGMA if name == "sigma" else MAX_DELAY * 1000.0
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not 0 <= value <= high  # NaN fails this too
        ):
            raise FaultError(f"latency parameter {name} must be a number in [0, {high:g}]")
        params[name] = float(value)
    return Latency(distribution, params)


@dataclass
class Faults:
    """The faults in force now."""

    outage: Outage | None = None
    latency: Latency | None = None
    error_rate: float = 0.0
    error_status: int = 503
    max_hang: float = 60.0
    refresh: Callable[[], None] | None = None  # shared mode: re-read what other workers set

    def quiet(self) -> bool:
        """No fault is set, so `apply` would return None at once (checked without a
        coroutine on every gated request)."""
        return self.outage is None and self.latency is None and self.error_rate <= 0

    async def apply(
        self, clock: Callable[[], float], rng: random.Random, route: str = ""
    ) -> int | None:
        outage = self.outage
        if outage is not None and clock() >= outage.until:
            self.outage = outage = None
        if outage is not None and outage.mode == "401":
            if route == "api":
                return 401
            outage = None  # the DCR routes work through a token-rejecting outage
        if outage is not None:
            if outage.mode == "503":
                return 503
            if outage.mode == "hang":
                await self._hang(outage, clock)
                return 503
            await asyncio.sleep(min(outage.delay, MAX_DELAY))
        if self.latency is not None:
            await asyncio.sleep(self.latency.sample(rng))
        if self.error_rate > 0 and rng.random() < self.error_rate:
            return self.error_status
        return None

    async def _hang(self, outage: Outage, clock: Callable[[], float]) -> None:
        """Hold the request until the outage ends (or `max_hang` passes)."""
        waited = 0.0
        while self.outage is outage and clock() < outage.until and waited < self.max_hang:
            await asyncio.sleep(0.05)
            waited += 0.05
            if self.refresh is not None:
                self.refresh()
