"""The DCR service as the fleet sees it: statuses, capacity, throttling, outages, revocations.

`SimServer.serve` takes one `Send` of an agent at simulated time `now` and returns how long
until the answer arrives and what it is, with the real service's statuses and the checks
in the order of `dcrload.core.semantics` (the mock's order too): the per-device throttle
(429), then an outage (503, or no answer), then the route (201 for register and token, 200
for an API call with a valid token, 401 for an expired, rejected or revoked token, 400 with
the documented `error` values).

Capacity: the Client Register and Client Token endpoints share `workers` servers and the
scenario's service-time distribution. With `fifo=True` the queue is computed exactly at one
heap operation per request (arrivals come in time order under SimPy, so the worker that
frees first takes the next request). With `fifo=False` (the run-to-completion engine, where
instances run one after another) every request is served at once, and `queue_free()` tells
afterwards, from all arrivals and service times, whether any request would have had to
wait; if none would, the run is exactly what the FIFO queue gives. Service times and TTL
jitter come from the requesting instance's own `server` stream, so both engines draw the
same. Protected API calls are counted, throttled and refused in outages, but REST API V2
serves them, not the DCR workers: they never queue here.

Access tokens carry their expiry and software id in the value ("<exp>|<software id>|..."),
so checking a bearer token needs no store. Revocations and outages are windows of
scenario time, so the server knows them without a process of its own.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Sequence
from typing import Any

from dcrload.core import semantics
from dcrload.core.actions import CallApi, Failure, FetchToken, Register, Response
from dcrload.core.streams import Rng
from dcrload.core.throttle import TokenBucket
from dcrload.model.agent import Burst, Send
from dcrload.model.counts import RunCounts, Service
from dcrload.model.scenario import Scenario

EMPTY: dict[str, str] = {}
TIMEOUT = Failure("timeout")
OK_API = Response(200)
THROTTLED: dict[str, Response] = {}


def _refused(refusal: semantics.Refusal, route: str, headers: dict[str, str]) -> Response:
    return Response(refusal.status, refusal.body(route), headers)


class SimServer:
    """Answers requests; keeps the worker queue, the throttle buckets and the counts of work."""

    def __init__(
        self, scenario: Scenario, *, fifo: bool = True, counts: RunCounts | None = None
    ) -> None:
        self.scenario = scenario
        server = scenario.server
        self.record: Service | None = None
        """Where each DCR request's wait, response time and busy time go (`RunCounts.service`)."""
        if counts is not None:
            self.record = counts.service
            self.record.workers = server.workers
        self.reject_cost = server.reject_cost
        self.timeout = server.timeout
        self.rtt = server.network_rtt
        self.service_time = server.service_time
        self.workers = server.workers
        self.fifo = fifo
        self._free_at = [0.0] * server.workers
        self.arrivals = array("d")
        self.services = array("d")
        self.throttle = server.throttle
        self._buckets: dict[str, TokenBucket] = {}
        self._throttling = server.throttle.enabled
        self._rate = server.throttle.rate
        self._burst_size = float(server.throttle.burst)
        self._half_rtt = server.network_rtt / 2
        self.ttl = scenario.token.ttl
        self.ttl_jitter = scenario.token.ttl_jitter
        self.outages = sorted(
            (o.start, o.start + o.duration, o.mode) for o in scenario.faults.outages
        )
        self.revoked_at: dict[str, float] = {}
        for revocation in scenario.faults.revocations:
            previous = self.revoked_at.get(revocation.software_id, math.inf)
            self.revoked_at[revocation.software_id] = min(previous, revocation.at)
        retry_after = {"retry-after": "1"} if self.throttle.retry_after else EMPTY
        self._throttled = {
            route: _refused(semantics.THROTTLED, route, retry_after)
            for route in ("register", "token", "api")
        }
        self._unavailable = {
            route: _refused(semantics.UNAVAILABLE, route, EMPTY)
            for route in ("register", "token", "api")
        }
        self._standing = {
            route: _refused(refusal, route, EMPTY) for route, refusal in semantics.STANDING.items()
        }
        self._rejected = _refused(semantics.TOKEN_REJECTED, "api", EMPTY)
        self._expired = _refused(semantics.TOKEN_EXPIRED, "api", EMPTY)
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

    # --------------------------------------------------------------- throttling

    def _bucket(self, device: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(device)
        if bucket is None:
            bucket = self._buckets[device] = TokenBucket(self.throttle.burst, now)
        return bucket

    def admit(self, device: str, now: float) -> bool:
        """Spend one token of `device`'s bucket; False means 429."""
        if not self.throttle.enabled:
            return True
        return self._bucket(device, now).take(now, self.throttle.rate, float(self.throttle.burst))

    # --------------------------------------------------------------- answers

    def serve(self, send: Send, device: str, now: float, rng: Rng) -> tuple[float, Any]:
        """(seconds until the answer arrives, the answer) for one `Send` at `now`."""
        if send.repeat > 1:
            return self._burst(send, device, now)
        return self.answer(send.action, device, now, rng)

    def answer(
        self, action: Register | FetchToken | CallApi, device: str, now: float, rng: Rng
    ) -> tuple[float, Response | Failure]:
        """The server's answer to one request sent at `now` by `device`."""
        kind = type(action)
        route = "api" if kind is CallApi else "token" if kind is FetchToken else "register"
        rtt = self.rtt
        if self._throttling:  # admit(), inlined: one bucket per device
            bucket = self._buckets.get(device)
            if bucket is None:
                bucket = self._buckets[device] = TokenBucket(self.throttle.burst, now)
            if not bucket.take(now, self._rate, self._burst_size):
                return self._refuse(route, now, rng, self._throttled[route])
        mode = self.outage(now) if self.outages else None
        if mode is not None:
            if mode == "timeout":
                return self.timeout, TIMEOUT
            if mode == "503":
                return self._refuse(route, now, rng, self._unavailable[route])
            if route == "api":  # "401": a botched key rotation; the DCR routes work
                return rtt, self._rejected
        if route == "api":
            return rtt, self._api(action.access_token, now)  # type: ignore[union-attr]
        arrival = now + self._half_rtt
        service = self.service_time.sample(rng)
        if self.fifo:
            wait, through = self._queue(arrival, service)
        else:  # _queue without the FIFO: recorded for queue_free
            self.arrivals.append(arrival)
            self.services.append(service)
            wait, through = 0.0, service
        delay = rtt + through
        record = self.record
        if record is not None:
            record.busy(arrival + wait, arrival + wait + service)
            response = rtt + wait + service
            record.served(route, now, wait, response if response < self.timeout else self.timeout)
        if delay > self.timeout:
            return self.timeout, TIMEOUT
        done = now + delay
        if route == "register":
            return delay, self._register(action, done)  # type: ignore[arg-type]
        return delay, self._token(action, done, rng)  # type: ignore[arg-type]

    def _burst(self, send: Send, device: str, first: float) -> tuple[float, Burst]:
        """Up to `send.repeat` API calls `send.every` apart; stop at the first not 200.

        In closed form while nothing can refuse a call (no outage, token and statement
        valid, a bucket that refills at least one token between calls); call by call
        otherwise. Either way each call is answered exactly as `answer` would.
        """
        action = send.action
        assert isinstance(action, CallApi)
        n, every, rtt = send.repeat, send.every, self.rtt
        exp_text, software_id, _ = action.access_token.split("|", 2)
        ok_until = min(float(exp_text), self.revoked_at.get(software_id, math.inf))
        if self.outages:
            ok_until = min(
                ok_until, self.next_outage(first) if self.outage(first) is None else first
            )
        free = 0 if ok_until <= first else min(n, math.ceil((ok_until - first) / every - 1e-12))
        if free and self.throttle.enabled:
            rate, burst = self.throttle.rate, float(self.throttle.burst)
            bucket = self._bucket(device, first)
            if every * rate >= 1.0 and bucket.level_at(first, rate, burst) >= 1.0:
                bucket.take_series(first, every, free, rate, burst)
            else:
                free = 0
        for k in range(free, n):
            t = first + k * every
            delay, reply = self.answer(action, device, t, None)  # type: ignore[arg-type]
            if not (isinstance(reply, Response) and reply.status == 200):
                return k * every + delay, Burst(k, reply)
        return (n - 1) * every + rtt, Burst(n)

    def _refuse(
        self, route: str, now: float, rng: Rng, refusal: Response
    ) -> tuple[float, Response]:
        """A 429 or 503: free unless `server.reject_cost` makes a DCR refusal take a worker
        for that share of a service time (contention from rejected retries)."""
        if not self.reject_cost or route == "api":
            return self.rtt, refusal
        arrival = now + self.rtt / 2
        service = self.reject_cost * self.service_time.sample(rng)
        wait, through = self._queue(arrival, service)
        if self.record is not None:
            self.record.busy(arrival + wait, arrival + wait + service)
        delay = self.rtt + through
        if delay > self.timeout:
            return self.timeout, TIMEOUT  # type: ignore[return-value]
        return delay, refusal

    def _queue(self, arrival: float, service: float) -> tuple[float, float]:
        """(queue wait, seconds from arrival to the end of service): FIFO on the first free
        worker; with `fifo=False` no wait (checked afterwards by `queue_free`)."""
        if not self.fifo:
            self.arrivals.append(arrival)
            self.services.append(service)
            return 0.0, service
        start = max(arrival, self._free_at[0])
        finish = start + service
        heapq.heapreplace(self._free_at, finish)
        return start - arrival, finish - arrival

    def queue_free(self) -> bool:
        """Whether no request served with `fifo=False` would have waited for a worker.

        At most `workers` requests may be in service at any arrival; a request that
        finishes exactly when another arrives frees its worker first (as the heap does).
        """
        return most_in_service(self.arrivals, self.services) <= self.workers

    def _register(self, action: Register, done: float) -> Response:
        if self.revoked(action.software_id, done):
            return self._standing["register"]
        self.clients += 1
        body = {
            "client_id": f"{action.software_id}|{self.clients}",
            "client_secret": "secret",
            "client_id_issued_at": int(done),
            "grant_types": ["client_credentials"],
        }
        return Response(201, body, EMPTY)

    def _token(self, action: FetchToken, done: float, rng: Rng) -> Response:
        software_id = action.client_id.rsplit("|", 1)[0]
        if self.revoked_at and self.revoked(software_id, done):
            return self._standing["token"]
        self.tokens += 1
        ttl = self.ttl
        if self.ttl_jitter:
            ttl *= 1.0 - rng.uniform(0.0, self.ttl_jitter)
        body = {
            "access_token": f"{done + ttl!r}|{software_id}|{self.tokens}",
            "token_type": "bearer",
            "expires_in": ttl,
            "created_at": done * 1000.0,
        }
        return Response(201, body, EMPTY)

    def _api(self, token: str, now: float) -> Response:
        exp, software_id, _ = token.split("|", 2)
        if self.revoked_at and self.revoked(software_id, now):
            return self._standing["api"]
        if now >= float(exp):
            return self._expired
        return OK_API


def most_in_service(arrivals: Sequence[float], services: Sequence[float]) -> int:
    """The most requests in service at once if none waits: request i is in service over
    [arrivals[i], arrivals[i] + services[i]), so one that ends exactly when another
    arrives has left. Just after the arrival at t, (arrivals ≤ t) − (ends ≤ t) are in
    service; the most is reached just after some arrival. Two sorts and a search, for
    the millions of arrivals of a sharded run."""
    if len(arrivals) == 0:
        return 0
    import numpy as np

    starts = np.asarray(arrivals, dtype=np.float64)
    spans = np.asarray(services, dtype=np.float64)
    ends = np.sort(starts + spans)
    starts = np.sort(starts)
    arrived = np.arange(1, len(starts) + 1)
    return int((arrived - np.searchsorted(ends, starts, side="right")).max())
