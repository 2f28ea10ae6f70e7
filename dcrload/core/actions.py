"""What a lifecycle asks its driver to do (actions) and what the driver tells it (events).

These are the only types that cross the boundary between the sans-IO core
(`dcrload.core.lifecycle`) and a driver (the SimPy fleet, the Locust user, `dcrload probe`).
They are small frozen dataclasses, in the manner of h11's events: a driver performs an
action and feeds the outcome back as an event; it never reaches into the lifecycle's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Register:
    """POST the software statement to the Client Register endpoint."""

    software_statement: str
    software_id: str


@dataclass(frozen=True, slots=True)
class FetchToken:
    """POST the cached client credentials to the Client Token endpoint."""

    client_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class CallApi:
    """Call a protected REST API route with the cached bearer token."""

    route: str
    access_token: str


@dataclass(frozen=True, slots=True)
class Reauthenticate:
    """Ask the user to log in with their TV provider again (profiles were lost)."""


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to do before driver time `until` (``math.inf``: until the next event)."""

    until: float


@dataclass(frozen=True, slots=True)
class Blocked:
    """The instance cannot play until an app update brings a new software statement."""

    reason: str


Action = Register | FetchToken | CallApi | Reauthenticate | Wait | Blocked
"""Everything `AppInstance.next_action` can answer."""

RequestAction = Register | FetchToken | CallApi
"""The actions that are one HTTP request each and expect a `Response` or `Failure`."""

# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class AppLaunched:
    """The user opened the app: a session starts (the app is in the foreground)."""


@dataclass(frozen=True, slots=True)
class AppBackgrounded:
    """The session ended: the app went to the background or was closed."""


@dataclass(frozen=True, slots=True)
class ApiCallDue:
    """The app wants to call `route` now (player start, entitlement check, heartbeat)."""

    route: str = "configuration"


@dataclass(frozen=True, slots=True)
class Response:
    """The server answered the request the lifecycle asked for.

    `body` is the decoded JSON object (empty when the body was not JSON); header names are
    lower case.
    """

    status: int
    body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Failure:
    """The request got no HTTP answer: ``"timeout"`` or ``"connection"``."""

    kind: str = "timeout"


@dataclass(frozen=True, slots=True)
class Reauthenticated:
    """The user logged in again; the driver performed the `Reauthenticate` action."""


@dataclass(frozen=True, slots=True)
class CredentialsLost:
    """The app's storage lost the client credentials (and the token with them)."""


@dataclass(frozen=True, slots=True)
class AppUpdated:
    """An app update installed a new software statement."""

    software_statement: str
    software_id: str


Event = (
    AppLaunched
    | AppBackgrounded
    | ApiCallDue
    | Response
    | Failure
    | Reauthenticated
    | CredentialsLost
    | AppUpdated
)
