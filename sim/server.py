"""The DCR service as the fleet sees it: statuses, capacity, throttling, outages, revocations.

`SimServer.answer` takes one request action at simulated time `now` and returns when and how
the server answers, with the real service's statuses: 201 for register and token, 200 for an
API call with a valid token, 401 for an expired or revoked token, 400 with the documented
`error` values, 429 from the per-device token bucket, 503 or no answer in an outage.

Capacity: the Client Register and Client Token endpoints share `workers` servers with a
FIFO queue and the scenario's service-time distribution. The queue is computed, not
simulated with request/release events: arrivals come in time order, so the worker that
frees first takes the next request (an exact FIFO multi-server queue at one heap operation
per request). Protected API calls are counted, throttled and refused in outages, but they
are served by REST API V2, not by the DCR workers, and never queue here.

Access tokens carry their expiry and software id in the value ("<exp>|<software id>|<n>"),
so checking a bearer token needs no store. Revocations and outages are windows of
scenario time, so the server knows them without a process of its own.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dcrload.core.actions import CallApi, FetchToken, Register, RequestAction
from dcrload.core.throttle import TokenBucket
from dcrload.model.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Answer:
    """What the client sees `delay` seconds after sending: a status, or a timeout (status 0)."""

    delay: float
    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str]
    outcome: str
    """How the request is counted: the status ("201", "401", ...) or "timeout"."""
    expired: bool = False
    """An API call that carried an expired token (as the server's clock sees it)."""


EMPTY: Mapping[str, str] = {}


class SimServer:
    """Answers requests; keeps the worker queue, the throttle buckets and the counts of work."""

    def __init__(self, scenario: Scenario, rng: random.Random) -> None:
        self.scenario = scenario
        self.rng = rng
        server = scenario.server
        self.timeout = server.timeout
        self.rtt = server.network_rtt
        self.service_time = server.service_time
        self._free_at = [0.0] * server.workers
        heapq.heapify(self._free_at)
        self.throttle = server.throttle
        self._buckets: dict[str, TokenBucket] = {}
        self.ttl = scenario.token.ttl
        self.ttl_jitter = scenario.token.ttl_jitter
        self.outages = sorted(
            (o.start, o.start + o.duration, o.mode) for o in scenario.faults.outages
        )
        self.revoked_at: dict[str, float] = {}
        for revocation in scenario.faults.revocations:
            previous = self.revoked_at.get(revocation.software_id, math.inf)
            self.revoked_at[revocation.software_id] = min(previous, revocation.at)
        self.clients = 0
        self.tokens = 0

    # --------------------------------------------------------------- windows of time

    def outage(self, now: float) -> str | None:
        for start, end, mode in self.outages:
            if start <= now < end:
                return mode
        return None

    def next_outage(self, now: float) -> float:
        return min((s for s, _, _ in self.outages if s > now), default=math.inf)

    def revoked(self, software_id: str, now: float) -> bool:
        return self.revoked_at.get(software_id, math.inf) <= now

    def api_ok_until(self, token: str, now: float) -> float:
        """Until when API calls with `token` succeed, as far as the server decides (no outage,
        not expired, statement not revoked)."""
        if self.outage(now) is not None:
            return now
        exp, software_id, _ = token.split("|", 2)
        revoked = self.revoked_at.get(software_id, math.inf)
        return min(float(exp), revoked, self.next_outage(now))

    # --------------------------------------------------------------- throttling

    def admit(self, device: str, now: float) -> bool:
        """Spend one token of `device`'s bucket; False means 429."""
        if not self.throttle.enabled:
            return True
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = TokenBucket(self.throttle.burst, now)
        return bucket.take(now, self.throttle.rate, float(self.throttle.burst))

    def admit_series(self, device: str, first: float, step: float, n: int) -> None:
        """Spend tokens for `n` evenly spaced requests the bucket is known to admit."""
        if not self.throttle.enabled or n <= 0:
            return
        rate, burst = self.throttle.rate, float(self.throttle.burst)
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = TokenBucket(burst, first)
        bucket.take_series(first, step, n, rate, burst)

    def bulk_admissible(self, device: str, step: float, now: float) -> bool:
        """Whether requests `step` apart from `now` on can never be throttled: the bucket holds
        a token now and refills at least one between two requests."""
        if not self.throttle.enabled:
            return True
        if step * self.throttle.rate < 1.0:
            return False
        bucket = self._buckets.get(device)
        if bucket is None:
            return True
        return bucket.level_at(now, self.throttle.rate, self.throttle.burst) >= 1.0

    # --------------------------------------------------------------- answers

    def answer(self, action: RequestAction, device: str, now: float) -> Answer:
        """The server's answer to one request sent at `now` by `device`."""
        mode = self.outage(now)
        rtt = self.rtt
        if mode == "timeout":
            return Answer(self.timeout, 0, {}, EMPTY, "timeout")
        if mode == "503":
            return Answer(rtt, 503, {"error": "service_unavailable"}, EMPTY, "503")
        if not self.admit(device, now):
            headers = {"retry-after": "1"} if self.throttle.retry_after else EMPTY
            return Answer(rtt, 429, {"error": "too_many_requests"}, headers, "429")
        if isinstance(action, CallApi):
            if mode == "401":
                body = {"error": {"code": "invalid_access_token", "status": 401}}
                return Answer(rtt, 401, body, EMPTY, "401")
            return self._api(action, now, rtt)
        delay = rtt + self._queue(now + rtt / 2)
        if delay > self.timeout:
            return Answer(self.timeout, 0, {}, EMPTY, "timeout")
        done = now + delay
        if isinstance(action, Register):
            return self._register(action, done, delay)
        return self._token(action, done, delay)

    def _queue(self, arrival: float) -> float:
        """Seconds from arrival to the end of service on the first free worker (FIFO)."""
        start = max(arrival, self._free_at[0])
        finish = start + self.service_time.sample(self.rng)
        heapq.heapreplace(self._free_at, finish)
        return finish - arrival

    def _register(self, action: Register, done: float, delay: float) -> Answer:
        if self.revoked(action.software_id, done):
            body = {"error": "unapproved_software_statement"}
            return Answer(delay, 400, body, EMPTY, "400")
        self.clients += 1
        body = {
            "client_id": f"{action.software_id}|{self.clients}",
            "client_secret": "secret",
            "client_id_issued_at": int(done * 1000),
            "grant_types": ["client_credentials"],
        }
        return Answer(delay, 201, body, EMPTY, "201")

    def _token(self, action: FetchToken, done: float, delay: float) -> Answer:
        software_id = action.client_id.rsplit("|", 1)[0]
        if self.revoked(software_id, done):
            return Answer(delay, 400, {"error": "unauthorized_client"}, EMPTY, "400")
        self.tokens += 1
        ttl = self.ttl
        if self.ttl_jitter:
            ttl *= 1.0 - self.rng.uniform(0.0, self.ttl_jitter)
        body = {
            "access_token": f"{done + ttl!r}|{software_id}|{self.tokens}",
            "token_type": "bearer",
            "expires_in": ttl,
            "created_at": done * 1000.0,
        }
        return Answer(delay, 201, body, EMPTY, "201")

    def _api(self, action: CallApi, now: float, rtt: float) -> Answer:
        exp, software_id, _ = action.access_token.split("|", 2)
        if self.revoked(software_id, now):
            body = {"error": {"code": "unauthorized_client", "status": 401}}
            return Answer(rtt, 401, body, EMPTY, "401")
        if now >= float(exp):
            body = {"error": {"code": "invalid_access_token", "status": 401}}
            return Answer(rtt, 401, body, EMPTY, "401", expired=True)
        return Answer(rtt, 200, {}, EMPTY, "200")
