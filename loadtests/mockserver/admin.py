"""The admin API under ``/admin``: revocations, faults, TTL, throttle, reset, statistics.

Every route wants the admin key, as ``Authorization: Bearer KEY`` or ``X-Admin-Key: KEY``
(compared in constant time); without it: 401. Bodies are JSON; a bad one gets 400 with
``{"error": "..."}``. Routes:

- ``GET  /admin/stats``: requests by route and status, clients, tokens issued;
- ``GET  /admin/state``: the faults, TTL, throttle, quirks and revocations in force;
- ``POST /admin/revocations`` ``{"software_id": ID}`` and
  ``DELETE /admin/revocations/{software_id}``: revoke and restore;
- ``PUT /admin/outage`` ``{"mode": "503"|"hang"|"slow"|"401", "duration": s?, "delay": s?}``,
  ``DELETE /admin/outage``;
- ``PUT /admin/latency`` ``{"distribution": "fixed"|"uniform"|"exponential"|"lognormal",
  "ms"|"low_ms"+"high_ms"|"mean_ms"|"median_ms"+"sigma": ...}``, ``DELETE /admin/latency``;
- ``PUT /admin/error-rate`` ``{"rate": 0..1, "status": 500|502|503|504}``;
- ``PUT /admin/ttl`` ``{"ttl": s, "jitter": 0..1}``;
- ``PUT /admin/throttle`` ``{"enabled", "rate", "burst", "retry_after"}``;
- ``PUT /admin/quirks`` ``{"quirks": [...]}`` (deliberate deviations, see settings.QUIRKS);
- ``POST /admin/reset`` ``{"data": false}``: faults, TTL, throttle, quirks and counters back
  to the start-up settings; with ``"data": true`` also forget clients, profiles and
  revocations.
"""

from __future__ import annotations

import dataclasses
import hmac
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loadtests.mockserver.bodies import BadInput, parse_json_object
from loadtests.mockserver.calls import BODY_KEY
from loadtests.mockserver.faults import OUTAGE_MODES, FaultError, Outage, parse_latency
from loadtests.mockserver.responses import json_response
from loadtests.mockserver.settings import QUIRKS, ThrottleSettings
from loadtests.mockserver.state import MockState

Handler = Callable[[Request], Awaitable[Response]]


class BadAdminRequest(ValueError):
    pass


MAX_SECONDS = 366 * 24 * 3600.0
"""The longest TTL or outage the admin API takes (a year): anything longer is a typo."""
MAX_RATE = 1e6  # throttle tokens per second
MAX_BURST = 1_000_000  # throttle bucket size
ERROR_STATUSES = (500, 502, 503, 504)


def _number(
    body: dict[str, Any],
    name: str,
    default: float | None = None,
    low: float = 0.0,
    high: float = MAX_SECONDS,
) -> float:
    """A finite JSON number in [low, high] (booleans and strings refused)."""
    value = body.get(name, default)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise BadAdminRequest(f"{name} must be a number in [{low:g}, {high:g}]")
    return float(value)


class AdminRoutes:
    def __init__(self, state: MockState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/admin/stats", self._guard(self.stats), methods=["GET"]),
            Route("/admin/state", self._guard(self.show), methods=["GET"]),
            Route("/admin/revocations", self._guard(self.revoke), methods=["POST"]),
            Route(
                "/admin/revocations/{software_id}", self._guard(self.restore), methods=["DELETE"]
            ),
            Route("/admin/outage", self._guard(self.outage), methods=["PUT", "DELETE"]),
            Route("/admin/latency", self._guard(self.latency), methods=["PUT", "DELETE"]),
            Route("/admin/error-rate", self._guard(self.error_rate), methods=["PUT"]),
            Route("/admin/ttl", self._guard(self.ttl), methods=["PUT"]),
            Route("/admin/throttle", self._guard(self.throttle), methods=["PUT"]),
            Route("/admin/quirks", self._guard(self.quirks), methods=["PUT"]),
            Route("/admin/reset", self._guard(self.reset), methods=["POST"]),
        ]

    def _guard(self, handler: Callable[[Request, dict[str, Any]], Response]) -> Handler:
        expected = self.state.admin_key.encode()

        async def guarded(request: Request) -> Response:
            given = request.headers.get("x-admin-key", "")
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if not given and scheme.lower() == "bearer":
                given = token.strip()
            if not given or not hmac.compare_digest(given.encode(), expected):
                return json_response(401, {"error": "admin key required"})
            body: dict[str, Any] = {}
            raw = request.scope.get(BODY_KEY, b"")
            if raw.strip():
                try:
                    body = parse_json_object(raw)
                except BadInput as error:
                    return json_response(400, {"error": str(error)})
            self.state.sync()
            try:
                answer = handler(request, body)
            except (BadAdminRequest, FaultError) as error:
                return json_response(400, {"error": str(error)})
            if request.method != "GET":
                self.state.publish()  # shared mode: every worker follows
            return answer

        return guarded

    def stats(self, request: Request, body: dict[str, Any]) -> Response:
        return json_response(200, self.state.stats_snapshot())

    def show(self, request: Request, body: dict[str, Any]) -> Response:
        state = self.state
        faults = state.faults
        return json_response(
            200,
            {
                "profile": state.settings.profile,
                "paths": dataclasses.asdict(state.paths),
                "ttl": state.ttl,
                "ttl_jitter": state.ttl_jitter,
                "throttle": dataclasses.asdict(state.throttle_settings),
                "outage": None
                if faults.outage is None
                else {
                    "mode": faults.outage.mode,
                    "remaining": None
                    if math.isinf(faults.outage.until)
                    else max(0.0, faults.outage.until - state.clock()),
                    "delay": faults.outage.delay,
                },
                "latency": None if faults.latency is None else dataclasses.asdict(faults.latency),
                "error_rate": faults.error_rate,
                "error_status": faults.error_status,
                "quirks": sorted(state.quirks),
                "revoked": sorted(state.store.revoked),
            },
        )

    def revoke(self, request: Request, body: dict[str, Any]) -> Response:
        software_id = body.get("software_id")
        if not isinstance(software_id, str) or not software_id:
            raise BadAdminRequest("software_id is required")
        self.state.store.revoke(software_id, int(self.state.clock()))
        return json_response(200, {"revoked": sorted(self.state.store.revoked)})

    def restore(self, request: Request, body: dict[str, Any]) -> Response:
        self.state.store.restore(request.path_params["software_id"])
        return json_response(200, {"revoked": sorted(self.state.store.revoked)})

    def outage(self, request: Request, body: dict[str, Any]) -> Response:
        faults = self.state.faults
        if request.method == "DELETE":
            faults.outage = None
            return json_response(200, {"outage": None})
        mode = str(body.get("mode", "503"))
        if mode not in OUTAGE_MODES:
            raise BadAdminRequest(f"mode must be one of {', '.join(OUTAGE_MODES)}")
        until = math.inf
        if body.get("duration") is not None:
            until = self.state.clock() + _number(body, "duration", low=0.0)
        delay = _number(body, "delay", 5.0, 0.0, 30.0)
        faults.outage = Outage(mode, until, delay)
        return json_response(200, {"outage": mode})

    def latency(self, request: Request, body: dict[str, Any]) -> Response:
        faults = self.state.faults
        faults.latency = None if request.method == "DELETE" else parse_latency(body)
        return json_response(200, {"latency": None if faults.latency is None else body})

    def error_rate(self, request: Request, body: dict[str, Any]) -> Response:
        faults = self.state.faults
        rate = _number(body, "rate", None, 0.0, 1.0)
        status = body.get("status", 503)
        if type(status) is not int or status not in ERROR_STATUSES:  # 503.0 is refused too
            raise BadAdminRequest("status must be the integer 500, 502, 503 or 504")
        faults.error_rate, faults.error_status = rate, status
        return json_response(200, {"rate": rate, "status": status})

    def ttl(self, request: Request, body: dict[str, Any]) -> Response:
        state = self.state
        ttl = _number(body, "ttl", state.ttl, 1.0)
        jitter = _number(body, "jitter", state.ttl_jitter, 0.0, 0.99)
        state.ttl, state.ttl_jitter = ttl, jitter
        return json_response(200, {"ttl": ttl, "jitter": jitter})

    def throttle(self, request: Request, body: dict[str, Any]) -> Response:
        current = self.state.throttle_settings
        enabled = body.get("enabled", current.enabled)
        retry_after = body.get("retry_after", current.retry_after)
        if not isinstance(enabled, bool) or not isinstance(retry_after, bool):
            raise BadAdminRequest("enabled and retry_after must be true or false")
        rate = _number(body, "rate", current.rate, 1e-6, MAX_RATE)
        burst = _number(body, "burst", current.burst, 1.0, MAX_BURST)
        if not burst.is_integer():
            raise BadAdminRequest("burst must be a whole number")
        new = ThrottleSettings(enabled, rate, int(burst), retry_after)
        self.state.set_throttle(new)
        return json_response(200, dataclasses.asdict(new))

    def quirks(self, request: Request, body: dict[str, Any]) -> Response:
        quirks = body.get("quirks", [])
        if (
            not isinstance(quirks, list)
            or not all(isinstance(q, str) for q in quirks)
            or not set(quirks) <= QUIRKS
        ):
            raise BadAdminRequest(f"quirks must be a list drawn from {sorted(QUIRKS)}")
        self.state.quirks = set(quirks)
        return json_response(200, {"quirks": sorted(self.state.quirks)})

    def reset(self, request: Request, body: dict[str, Any]) -> Response:
        data = body.get("data", False)
        if not isinstance(data, bool):
            raise BadAdminRequest("data must be true or false")
        if data:
            self.state.store.wipe()
            self.state.data_epoch += 1
        self.state.reset()
        self.state.stats_epoch += 1
        return json_response(200, {"reset": True, "data": data})
