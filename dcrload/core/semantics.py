"""One server semantics: the order in which a DCR service checks a request, and its answers.

The simulated server (`sim.server.SimServer`) and the mock (`loadtests.mockserver`) apply
these checks in this order and answer with these statuses and error codes, so that the
simulation and a load test against the mock cannot disagree on what a request gets.

The order is that of a service behind an API gateway, as Adobe Pass Authentication is:

1. **throttle** (the gateway): a device over its token bucket gets 429
   ``too_many_requests`` — during a backend outage too, so immediate retries are throttled;
2. **outage** (the service behind it): mode ``503`` answers 503
   ``temporarily_unavailable`` at once; mode ``timeout`` sends no answer at all; mode
   ``401`` (a botched signing-key rotation) makes the API answer 401
   ``invalid_access_token`` to every token while the DCR routes work;
3. **request**: the route's own checks of shape and credentials (400 ``invalid_request``,
   ``invalid_client``, a bearer token that is malformed, unknown or expired: 401
   ``invalid_access_token`` / ``expired_access_token``);
4. **standing**: a revoked software statement — register 400
   ``unapproved_software_statement``, token 400 ``unauthorized_client``, API 401
   ``revoked_client``.

Nothing here does I/O; the functions only say what the answer is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Route = Literal["register", "token", "api"]

CHECKS = ("throttle", "outage", "request", "standing")
"""The checks every DCR and API request passes, in order; the first that refuses answers."""

# OAuth error codes (RFC 6749 section 5.2, RFC 7591 section 3.2.2) and Adobe Pass's own.
INVALID_REQUEST = "invalid_request"
INVALID_CLIENT = "invalid_client"
INVALID_CLIENT_METADATA = "invalid_client_metadata"
INVALID_REDIRECT_URI = "invalid_redirect_uri"
INVALID_SOFTWARE_STATEMENT = "invalid_software_statement"
UNAPPROVED_SOFTWARE_STATEMENT = "unapproved_software_statement"
UNAUTHORIZED_CLIENT = "unauthorized_client"
UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
TOO_MANY_REQUESTS = "too_many_requests"
TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
# REST API V2 enhanced error codes.
INVALID_ACCESS_TOKEN = "invalid_access_token"
EXPIRED_ACCESS_TOKEN = "expired_access_token"
REVOKED_CLIENT = "revoked_client"

STATEMENT_REFUSED = frozenset({UNAPPROVED_SOFTWARE_STATEMENT, INVALID_SOFTWARE_STATEMENT})
"""Registration errors that mean the software statement itself is refused (FAQ 5)."""

OUTAGE_MODES = ("503", "timeout", "401")

NO_ANSWER = 0
"""The status of a request that gets no answer (it times out at the client)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request refused before (or instead of) the route's work: status 0 is no answer."""

    status: int
    code: str
    message: str

    def body(self, route: str) -> dict[str, Any]:
        return error_body(route, self.status, self.code, self.message)


THROTTLED = Refusal(429, TOO_MANY_REQUESTS, "Too many requests.")
UNAVAILABLE = Refusal(503, TEMPORARILY_UNAVAILABLE, "Service unavailable.")
SILENT = Refusal(NO_ANSWER, "", "No answer.")
TOKEN_REJECTED = Refusal(401, INVALID_ACCESS_TOKEN, "The access token is not valid.")
TOKEN_EXPIRED = Refusal(401, EXPIRED_ACCESS_TOKEN, "The access token has expired.")

STANDING: dict[str, Refusal] = {
    "register": Refusal(400, UNAPPROVED_SOFTWARE_STATEMENT, "The software statement is revoked."),
    "token": Refusal(400, UNAUTHORIZED_CLIENT, "The client's software statement is revoked."),
    "api": Refusal(401, REVOKED_CLIENT, "The client's statement is revoked."),
}
"""What a route answers when the caller's software statement is revoked (check 4)."""


def edge_refusal(route: str, *, throttled: bool, outage: str | None) -> Refusal | None:
    """Checks 1 and 2: the gateway's throttle, then an outage (`outage` is its mode or None).

    Returns the refusal, or None when the request reaches the route.
    """
    if throttled:
        return THROTTLED
    if outage is None:
        return None
    if outage == "503":
        return UNAVAILABLE
    if outage == "timeout":
        return SILENT
    if outage == "401":
        return TOKEN_REJECTED if route == "api" else None
    raise ValueError(f"unknown outage mode {outage!r}; modes: {', '.join(OUTAGE_MODES)}")


def error_body(route: str, status: int, code: str, message: str) -> dict[str, Any]:
    """The error shape of a route: OAuth's for register and token, the enhanced one for API.

    - register, token: ``{"error": CODE, "error_description": TEXT}``;
    - api: ``{"error": {"status", "code", "message", "action"}}`` (REST API V2).
    """
    if route == "api":
        action = "none" if code == REVOKED_CLIENT else "retry"
        return {"error": {"status": status, "code": code, "message": message, "action": action}}
    return {"error": code, "error_description": message}


def error_code(body: Any) -> str:
    """The error code of an answer in either shape ("" when there is none)."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("code")
    return error if isinstance(error, str) else ""


def error_description(body: Any) -> str:
    """The human text of an answer in either shape: OAuth's `error_description`, or REST
    API V2's `error.message` ("" when there is none)."""
    if not isinstance(body, dict):
        return ""
    description = body.get("error_description", "") or ""
    error = body.get("error")
    if not description and isinstance(error, dict):
        description = error.get("message", "") or ""
    return str(description)
