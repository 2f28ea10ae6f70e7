"""Before a load test: one app instance's lifecycle against the target, by hand, with httpx.

`dcrload loadtest` runs it once before it starts Locust, so that what would make the whole
run meaningless is said in one line before any load is sent:

- nothing answers at the target (a dead port, a wrong host): `Unreachable`, exit 1;
- the target answers, but not as the lifecycle needs — registration refused, no token, the
  API answers 404 — `Refused`, naming the endpoint, the status and the server's own
  `error` / `error_description`;
- the server's access tokens live a different time than the scenario says (`lifetime`),
  which the command reports and predicts with;
- how long a request takes (`latency`), from which the command sizes its Locust users.

It sends one registration, one token request and (when the profile has an API leg) one API
call, with the very wire format the load test uses (`dcrload.core.wire`). No Locust import.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from dcrload.core.actions import CallApi, FetchToken, Register, RequestAction, Response
from dcrload.core.lifecycle import jwt_claims, succeeded
from dcrload.core.semantics import error_code, error_description
from dcrload.core.wire import Device, WireProfile, device_info_for, to_response

TIMEOUT = 10.0


class Unreachable(Exception):
    """Nothing answered at the target."""


class Refused(Exception):
    """The target answered a lifecycle step with something other than 2xx."""

    def __init__(self, endpoint: str, status: int, body: object) -> None:
        self.endpoint, self.status = endpoint, status
        self.code = error_code(body)
        self.description = error_description(body)
        detail = " ".join(part for part in (self.code, self.description) if part)
        super().__init__(f"{endpoint} answered {status}" + (f" {detail}" if detail else ""))


@dataclass(frozen=True)
class Preflight:
    """What one pass of the lifecycle found out about the target."""

    lifetime: float
    """Seconds the server's first access token lives (`expires_in`, or `exp` − `iat`)."""
    latency: float
    """Mean seconds per request over the pass."""


def preflight(host: str, wire: WireProfile, statement: str, software_id: str) -> Preflight:
    """Register, fetch a token and (if the profile has one) call the API once."""
    device_id = "dcrload-preflight"
    device = Device(device_id, device_info_for(device_id, "Server"), None, "dcrload-preflight")
    spent: list[float] = []
    with httpx.Client(base_url=host.rstrip("/"), timeout=TIMEOUT) as client:

        def send(action: RequestAction, endpoint: str) -> Response:
            request = wire.request(action, device)
            started = time.perf_counter()
            try:
                answer = client.request(
                    request.method, request.path, headers=request.headers, content=request.body
                )
            except httpx.TransportError as error:
                raise Unreachable(f"{host}: {type(error).__name__}: {error}") from None
            spent.append(time.perf_counter() - started)
            reply = to_response(answer.status_code, answer.headers.items(), answer.content)
            if not succeeded(reply.status):
                raise Refused(endpoint, reply.status, reply.body)
            return reply

        registered = send(Register(statement, software_id), "register")
        client_id = str(registered.body.get("client_id", ""))
        secret = str(registered.body.get("client_secret", ""))
        issued = send(FetchToken(client_id, secret), "token")
        token = str(issued.body.get("access_token", ""))
        lifetime = _lifetime(issued)
        if wire.sends_api:
            send(CallApi("configuration", token), "api")
    return Preflight(lifetime=lifetime, latency=sum(spent) / max(1, len(spent)))


def _lifetime(issued: Response) -> float:
    """`expires_in`, else the token's `exp` − `iat`; NaN when the server says neither."""
    expires_in = issued.body.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        return float(expires_in)
    claims = jwt_claims(str(issued.body.get("access_token", "")))
    exp, iat = claims.get("exp"), claims.get("iat")
    if isinstance(exp, int | float) and isinstance(iat, int | float):
        return float(exp - iat)
    return float("nan")
