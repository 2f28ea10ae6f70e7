"""The DCR lifecycle of one app instance, with no I/O (the h11 pattern).

Everything that decides what an app instance does next lives here; the drivers (the SimPy
fleet, the Locust user, `dcrload probe`) only perform actions and feed outcomes back:

    action = instance.next_action(now)      # Register, FetchToken, CallApi, Reauthenticate,
    ...perform it...                        # Wait(until) or Blocked
    instance.handle(Response(...), now)     # or Failure, AppLaunched, ApiCallDue, ...

Rules kept here (numbers are the source FAQ's):
- 1, 6, 7: register once per install with the embedded software statement; keep the one
  pair of client credentials indefinitely.
- 2: a launch with cached credentials and a valid token sends nothing.
- 8: lost credentials mean registering again, a new token, and a re-authentication.
- 9, 10: refresh before expiry, as the cohort's strategy says, with the cached credentials;
  never re-register to refresh (unless the cohort is the `reregister_on_refresh` anti-pattern).
- 3, 5: a refused statement blocks the instance until an app update brings a new one.

The module never reads a clock, a socket or a global random source: `now` is handed to
every call, the device's clock (`DeviceClock`) and a `random.Random` to the constructor.
`now` is driver time in simulated seconds; server times in responses are converted with
`InstanceConfig.epoch` and `time_scale` so that a time-compressed load test runs the very
same decisions. A driver that breaks the protocol (asks for an action while one is in
flight, answers nothing) gets `LifecycleError`; a server that misbehaves gets a counted,
handled outcome.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from dcrload.core.actions import (
    Action,
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    AppUpdated,
    Blocked,
    CallApi,
    CredentialsLost,
    Event,
    Failure,
    FetchToken,
    Reauthenticate,
    Reauthenticated,
    Register,
    Response,
    Wait,
)
from dcrload.core.clocks import PERFECT, DeviceClock
from dcrload.core.errors import LifecycleError
from dcrload.core.retry import NoRetry, RetryPolicy
from dcrload.core.semantics import (
    EXPIRED_ACCESS_TOKEN,
    INVALID_CLIENT,
    STATEMENT_REFUSED,
    UNAUTHORIZED_CLIENT,
    error_code,
)
from dcrload.core.strategies import FixedLead, RefreshStrategy
from dcrload.core.streams import Rng

Platform = Literal["mobile", "tv", "server"]
Basis = Literal["expires_in", "exp"]
AntiPattern = Literal[
    "none", "reregister_on_refresh", "no_credential_store", "no_token_cache", "unbounded_401_loop"
]

MIN_TOKEN_USE = 0.01
"""Timers wait at least this share of a token's lifetime before refreshing it, so a lead
longer than the lifetime, or a clock far ahead, cannot make a background timer spin."""

RETRY_BUDGET_FLOOR = 3
GIVE_UP_PAUSE = 300.0
"""Seconds a `keep_timer` app pauses before a fresh round of retries, when its retry
policy has no cap of its own."""
"""Retries a client may make under a retry budget before the share of requests applies."""

REVOKED_ERRORS = STATEMENT_REFUSED
"""Registration errors that mean the software statement itself is refused (FAQ 5)."""


class State(enum.Enum):
    """Where one app instance stands in the DCR lifecycle (the pending request included)."""

    UNREGISTERED = "unregistered"
    """No client credentials (a new install, or they were lost)."""
    REGISTERING = "registering"
    """A Client Register request is in flight."""
    REGISTERED = "registered"
    """Client credentials, but no token at hand."""
    FETCHING = "fetching"
    """A Client Token request is in flight."""
    READY = "ready"
    """Client credentials and a token (possibly one the server rejected or that expired)."""
    CALLING = "calling"
    """A protected API call is in flight."""
    REAUTHENTICATING = "reauthenticating"
    """The user is logging in with their TV provider again (FAQ 8)."""
    BLOCKED = "blocked"
    """The software statement was refused: nothing works until an app update (FAQ 5)."""

    __hash__ = object.__hash__  # members are singletons: hash by identity, in C (hot path)


S = State
REQUESTS = ("Register", "FetchToken", "CallApi")

TRANSITIONS: dict[tuple[State, str], frozenset[State]] = {
    # starting an action (what next_action answers)
    (S.UNREGISTERED, "Register"): frozenset({S.REGISTERING}),
    (S.REGISTERED, "FetchToken"): frozenset({S.FETCHING}),
    (S.READY, "FetchToken"): frozenset({S.FETCHING}),
    (S.READY, "Register"): frozenset({S.REGISTERING}),  # the reregister_on_refresh anti-pattern
    (S.READY, "CallApi"): frozenset({S.CALLING}),
    (S.READY, "Reauthenticate"): frozenset({S.REAUTHENTICATING}),
    # the answer to a pending action
    (S.REGISTERING, "answer"): frozenset({S.REGISTERED, S.UNREGISTERED, S.BLOCKED}),
    (S.FETCHING, "answer"): frozenset({S.READY, S.REGISTERED, S.UNREGISTERED, S.BLOCKED}),
    (S.CALLING, "answer"): frozenset({S.READY, S.REGISTERED}),
    (S.REAUTHENTICATING, "Reauthenticated"): frozenset({S.READY}),
    # what befalls the device
    (S.UNREGISTERED, "CredentialsLost"): frozenset({S.UNREGISTERED}),
    (S.REGISTERED, "CredentialsLost"): frozenset({S.UNREGISTERED}),
    (S.READY, "CredentialsLost"): frozenset({S.UNREGISTERED}),
    (S.BLOCKED, "CredentialsLost"): frozenset({S.BLOCKED}),
    (S.UNREGISTERED, "AppUpdated"): frozenset({S.UNREGISTERED}),
    (S.REGISTERED, "AppUpdated"): frozenset({S.REGISTERED}),
    (S.READY, "AppUpdated"): frozenset({S.READY}),
    (S.BLOCKED, "AppUpdated"): frozenset({S.UNREGISTERED}),
    # an app that starts with what its storage kept from before the run
    (S.UNREGISTERED, "Restored"): frozenset({S.REGISTERED, S.READY}),
    # launching without a credential store forgets the credentials (an anti-pattern)
    (S.UNREGISTERED, "AppLaunched"): frozenset({S.UNREGISTERED}),
    (S.REGISTERED, "AppLaunched"): frozenset({S.REGISTERED, S.UNREGISTERED}),
    (S.READY, "AppLaunched"): frozenset({S.READY, S.UNREGISTERED}),
    (S.BLOCKED, "AppLaunched"): frozenset({S.BLOCKED}),
    # a run of API calls that went out and succeeded, reported in one go by the driver
    (S.READY, "ApiCallsSucceeded"): frozenset({S.READY}),
}
"""Every legal move: (state, trigger) → the states it may lead to. A trigger is an action
starting (its class name), "answer" (a Response or Failure to the pending request), or an
event's class name. Events not listed here (ApiCallDue, AppBackgrounded) never change the
state and are legal wherever no request is pending. Anything else is a driver's bug and
raises `LifecycleError`."""

QUIET_EVENTS = frozenset({"ApiCallDue", "AppBackgrounded"})
"""Events that leave the state as it is; legal in any state without a pending request."""

PENDING = frozenset({S.REGISTERING, S.FETCHING, S.CALLING, S.REAUTHENTICATING})


DEFAULT_REFRESH = FixedLead(lead=300.0)
DEFAULT_RETRY = NoRetry()


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """How a cohort's app behaves; shared by every instance of the cohort."""

    refresh: RefreshStrategy = DEFAULT_REFRESH
    basis: Basis = "expires_in"
    platform: Platform = "tv"
    retry: RetryPolicy = DEFAULT_RETRY
    antipattern: AntiPattern = "none"
    time_scale: float = 1.0
    """Simulated seconds per server second (a compressed load test; 1 in the simulation)."""
    epoch: float = 0.0
    """The server's wall-clock reading (seconds) at driver time 0."""
    after_give_up: Literal["next_session", "keep_timer"] = "next_session"
    """A backgrounded tv/server app whose retries ran out: wait for the next session, or
    keep its timer and start the retries again after a pause (`GIVE_UP_PAUSE`)."""


@dataclass(frozen=True, slots=True)
class Credentials:
    client_id: str
    client_secret: str
    software_id: str


@dataclass(slots=True)
class Token:
    """A cached access token; times are readings on the cohort's basis unless named `_at`."""

    value: str
    obtained_at: float
    """Driver time the token arrived."""
    earliest_refresh_at: float
    """Driver time before which no timer refreshes it (MIN_TOKEN_USE of its lifetime)."""
    expiry: float
    refresh_at: float
    mandatory_at: float
    rejected: bool = False
    for_call: bool = False
    """Fetched while an API call waited for it: that call goes out on it whatever the
    device's clock says (until it does). A flag, not a comparison of times, so a driver
    whose clock moves while it works (Locust, in real time) decides as SimPy does."""


def succeeded(status: int) -> bool:
    """Whether an answer is a success: any 2xx (the one definition every driver uses)."""
    return 200 <= status < 300


def classify(status: int, body: Mapping[str, Any]) -> str:
    """Sort an answer: "ok", "transient", "register_again", "revoked", "unauthorized", "permanent".

    429, 5xx and timeouts are transient; `invalid_client` means the credentials are gone and
    the app must register again; a refused statement or client means revoked; 401 on an API
    call means the token is no good; other 4xx are permanent.
    """
    if 200 <= status < 300:
        return "ok"
    if status == 429 or status >= 500:
        return "transient"
    error = error_code(body)
    if error == INVALID_CLIENT:
        return "register_again"
    if error in REVOKED_ERRORS or error == UNAUTHORIZED_CLIENT:
        return "revoked"
    if status == 401:
        return "unauthorized"
    return "permanent"


def expired_token(status: int, body: Mapping[str, Any]) -> bool:
    """Whether an API answer says the access token had expired by the server's clock."""
    return status == 401 and error_code(body) == EXPIRED_ACCESS_TOKEN


def jwt_claims(token: str) -> Mapping[str, Any]:
    """The unverified claims of a JWT (the client only reads `exp`); {} if it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


class AppInstance:
    """One installed app: its statement, credentials, token and what it wants next."""

    __slots__ = (
        "_api_rejections",
        "_api_wanted",
        "_basis",
        "_ever_registered",
        "_exact",
        "_gave_up",
        "_pending",
        "_proactive",
        "_refresh_failed",
        "_retry_attempt",
        "_retry_delay",
        "_retry_for",
        "_retry_until",
        "_timers",
        "blocked",
        "clock",
        "config",
        "credentials",
        "failed_api_calls",
        "foreground",
        "needs_reauthentication",
        "reauthentications",
        "registrations",
        "requests_sent",
        "retries",
        "retry_rng",
        "rng",
        "software_id",
        "software_statement",
        "state",
        "token",
    )  # a million instances: no per-instance __dict__

    def __init__(
        self,
        config: InstanceConfig,
        software_statement: str,
        software_id: str,
        *,
        clock: DeviceClock = PERFECT,
        rng: Rng,
        retry_rng: Rng | None = None,
    ) -> None:
        self.config = config
        self.software_statement = software_statement
        self.software_id = software_id
        self.clock = clock
        # config and clock never change: what the hot path asks of them, read once
        self._timers = config.platform != "mobile"
        self._proactive = config.refresh.proactive
        self._basis = config.basis
        self._exact = clock.exact
        self.rng = rng
        """Draws of the refresh strategy (its jitter)."""
        self.retry_rng = rng if retry_rng is None else retry_rng
        """Draws of the retry policy (its jitter), a stream of their own."""
        self.credentials: Credentials | None = None
        self.token: Token | None = None
        self.foreground = False
        self.blocked: str | None = None
        self.needs_reauthentication = False
        self.registrations = 0
        self.reauthentications = 0
        self._ever_registered = False
        self._pending: Action | None = None
        self._api_wanted: str | None = None
        self._api_rejections = 0
        self._retry_attempt = 0
        self._retry_delay = 0.0
        self._retry_until = -math.inf
        self._retry_for = ""
        self._gave_up = False
        self._refresh_failed = False
        self.failed_api_calls = 0
        self.requests_sent = 0
        self.retries = 0
        self.state = State.UNREGISTERED

    # ------------------------------------------------------------------ the state

    def _settled(self) -> State:
        """The state the fields describe when no request is pending."""
        if self.blocked is not None:
            return State.BLOCKED
        if self.credentials is None:
            return State.UNREGISTERED
        return State.READY if self.token is not None else State.REGISTERED

    def _move(self, trigger: str, new: State) -> None:
        """Take one transition of `TRANSITIONS`; anything else is a driver's bug."""
        allowed = TRANSITIONS.get((self.state, trigger))
        if allowed is None or new not in allowed:
            raise LifecycleError(f"{trigger} in state {self.state.name} cannot lead to {new.name}")
        self.state = new

    # ------------------------------------------------------------------ queries

    @property
    def background_timers(self) -> bool:
        """Whether the platform lets timers fire with the app in the background: a TV or a
        server does, a mobile app does not (the one place this rule is written down)."""
        return self.config.platform != "mobile"

    @property
    def active(self) -> bool:
        """Whether timers fire now: in the foreground, or a platform with background work."""
        return self.foreground or self.background_timers

    @property
    def awaiting(self) -> Action | None:
        """The action whose outcome the lifecycle is waiting for, if any."""
        return self._pending

    def reading(self, now: float) -> float:
        return now if self._exact else self.clock.reading(self._basis, now)

    def token_usable(self, now: float) -> bool:
        """Whether an API call now would go out on the cached token without a refresh first."""
        return self.usable_until(now) > now

    def usable_until(self, now: float) -> float:
        """Driver time up to which, with no new event, every due API call goes straight out.

        The SimPy driver counts the API calls of that stretch in bulk instead of stepping
        each; it stays exact because nothing in this class changes between events.
        """
        token = self.token
        if (
            token is None
            or token.rejected
            or self.blocked
            or self.credentials is None
            or self.needs_reauthentication
            or self._pending is not None
            or self.config.antipattern == "no_token_cache"
            or self._retry_until > now
            or self._refresh_failed
        ):
            return now
        if self._exact:  # reading == now, and when(target) == max(now, target)
            if now >= token.expiry or (self._proactive and now >= token.refresh_at):
                return now
            if self._proactive:
                return min(token.expiry, token.refresh_at)
            return token.expiry
        basis = self._basis
        reading = self.clock.reading(basis, now)
        if reading >= token.expiry:
            return now
        limit = self.clock.when(basis, token.expiry, now)
        if self._proactive:
            if reading >= token.refresh_at:
                return now
            limit = min(limit, self.clock.when(basis, token.refresh_at, now))
        return limit

    # ------------------------------------------------------------------ actions

    def next_action(self, now: float) -> Action:
        """What to do at driver time `now`. Request actions must be answered before asking again."""
        if self._pending is not None:
            raise LifecycleError(f"{self._pending!r} is still waiting for its outcome")
        if self.blocked is not None:
            return Blocked(self.blocked)
        wanted = self._api_wanted is not None
        waiting = self._retry_until > now
        credentials = self.credentials
        if credentials is None:
            if not (self.foreground or wanted) or self._gave_up:
                return WAIT_FOREVER
            if waiting:
                return Wait(self._retry_until)
            return self._start(Register(self.software_statement, self.software_id))
        token = self.token
        if self.needs_reauthentication and token is not None:  # FAQ 8: token first
            if not self.foreground:
                return WAIT_FOREVER
            return self._start(Reauthenticate())
        reading = math.nan  # the device's reading at `now`, read once when needed
        api_ready = False
        if wanted and token is not None:  # unless the call must fail (_must_fail_call)
            if token.rejected:
                api_ready = False
            elif token.for_call:
                api_ready = True
            else:
                reading = now if self._exact else self.clock.reading(self._basis, now)
                api_ready = not (
                    reading >= token.expiry
                    or (self._refresh_failed and reading >= token.mandatory_at)
                )
        if waiting:
            if api_ready and self._retry_for == "token":
                return self._start(CallApi(self._api_wanted or "", token.value))  # type: ignore[union-attr]
            return Wait(self._retry_until) if (wanted or self.active) else WAIT_FOREVER
        if reading != reading and token is not None:  # nan: not read yet
            reading = now if self._exact else self.clock.reading(self._basis, now)
        if self._refresh_reason(now, wanted, reading):
            if self.config.antipattern == "reregister_on_refresh" and token is not None:
                return self._start(Register(self.software_statement, self.software_id))
            return self._start(FetchToken(credentials.client_id, credentials.client_secret))
        if api_ready:
            return self._start(CallApi(self._api_wanted or "", token.value))  # type: ignore[union-attr]
        if wanted:
            self._api_wanted = None  # no usable token and no way to get one now: the call fails
            self.failed_api_calls += 1
        # the next wake-up (_next_wakeup)
        if token is None or not self._proactive or self._gave_up:
            return WAIT_FOREVER
        if not (self.foreground or self._timers):
            return WAIT_FOREVER
        if self._exact:
            due = now if now >= token.refresh_at else token.refresh_at
        else:
            due = self.clock.when(self._basis, token.refresh_at, now)
        earliest = token.earliest_refresh_at
        return Wait(due if due >= earliest else earliest)

    # ------------------------------------------------------------------ background renewals

    def _renewing(self, now: float) -> Token | None:
        """The token, when the instance is in the plain background state in which
        `next_action` can only answer the timer's token request or a wait for it: credentials
        and a usable token, in the background with timers that fire, no call wanted, nothing
        pending, no retry, no give-up, no re-authentication owed, no anti-pattern."""
        token = self.token
        if (
            token is None
            or token.rejected
            or self.foreground
            or not self._timers
            or not self._proactive
            or self._pending is not None
            or self._api_wanted is not None
            or self.blocked is not None
            or self.credentials is None
            or self.needs_reauthentication
            or self._gave_up
            or self._retry_until > now
            or self.config.antipattern != "none"
        ):
            return None
        return token

    def renewal_due(self, now: float) -> bool:
        """Whether `next_action(now)` answers the background timer's `FetchToken` (in the
        plain state of `_renewing`; False anywhere else). Reads only: a driver that batches
        background renewals asks this, then `next_action`, and stays exact."""
        token = self._renewing(now)
        if token is None or now < token.earliest_refresh_at:
            return False
        reading = now if self._exact else self.clock.reading(self._basis, now)
        return reading >= token.expiry or reading >= token.refresh_at

    def renewal_wait(self, now: float) -> float | None:
        """`until` of the `Wait` that `next_action(now)` answers in the plain background
        state of `_renewing` when no renewal is due yet; None where that is not certain (the
        caller then asks `next_action`). Reads only, and decides as `next_action` does."""
        token = self._renewing(now)
        if token is None:
            return None
        earliest = token.earliest_refresh_at
        if now >= earliest:
            reading = now if self._exact else self.clock.reading(self._basis, now)
            if reading >= token.expiry or reading >= token.refresh_at:
                return None  # due now: next_action starts the request
        if self._exact:
            due = now if now >= token.refresh_at else token.refresh_at
        else:
            due = self.clock.when(self._basis, token.refresh_at, now)
        return due if due >= earliest else earliest

    def _start(self, action: Action) -> Action:
        kind = type(action)
        trigger, new = _STARTED[kind]
        self._move(trigger, new)
        if kind is CallApi and self.token is not None:
            self.token.for_call = False
        self._pending = action
        if kind is not Reauthenticate:
            self.requests_sent += 1
        return action

    def _refresh_reason(self, now: float, wanted: bool, reading: float) -> bool:
        """Whether a token request is due now (first token, expired, rejected or planned).

        A token is always used for the call it was fetched for, even when the device's clock
        says it is already expired (a clock days ahead); timers never refresh a token before
        `earliest_refresh_at`, so a wrong clock costs token load, never a spin.
        """
        token = self.token
        if self._gave_up:
            return False
        if token is None or token.rejected:
            return wanted
        fresh = token.for_call
        if wanted and self.config.antipattern == "no_token_cache":
            return not fresh
        proactive = self._proactive
        timer_ok = (
            (self.foreground or self._timers) and proactive and now >= token.earliest_refresh_at
        )
        if reading >= token.expiry:
            return (wanted and not fresh) or timer_ok
        if reading < token.refresh_at:
            return False
        return timer_ok or (wanted and proactive and not fresh)

    def _must_fail_call(self, now: float, token: Token) -> bool:
        """After a failed refresh, an old token serves until the mandatory time, then fails."""
        if token.rejected:
            return True
        if token.for_call:
            return False
        reading = self.reading(now)
        if reading >= token.expiry:
            return True
        return self._refresh_failed and reading >= token.mandatory_at

    def _next_wakeup(self, now: float) -> float:
        token = self.token
        if token is None or not self.active or not self._proactive:
            return math.inf
        if self._gave_up:
            return math.inf
        due = self.clock.when(self._basis, token.refresh_at, now)
        return max(due, token.earliest_refresh_at)

    # ------------------------------------------------------------------ events

    def handle(self, event: Event, now: float) -> None:
        """Feed one event; `Response`/`Failure`/`Reauthenticated` answer the pending action."""
        if type(event) is ApiCallDue and self._pending is None:  # the most frequent event
            self._api_wanted = event.route
            self._api_rejections = 0
            self._gave_up = False
            return
        if isinstance(event, _ANSWERS):
            pending, self._pending = self._pending, None
            if pending is None:
                raise LifecycleError(f"{event!r} answers no pending action")
            self._answer(pending, event, now)
            trigger = "Reauthenticated" if isinstance(event, Reauthenticated) else "answer"
            self._move(trigger, self._settled())
            return
        if self._pending is not None:
            raise LifecycleError(f"{event!r} while {self._pending!r} waits for its outcome")
        if isinstance(event, ApiCallDue):
            self._api_wanted = event.route
            self._api_rejections = 0
            self._gave_up = False
        elif isinstance(event, AppLaunched):
            self.foreground = True
            self._gave_up = False
            if self.config.antipattern == "no_credential_store" and self.credentials is not None:
                self._forget_credentials()
        elif isinstance(event, AppBackgrounded):
            self.foreground = False
            self._api_wanted = None
            if self.token is not None:
                self.token.for_call = False
        elif isinstance(event, CredentialsLost):
            self._forget_credentials()
        elif isinstance(event, AppUpdated):
            self.software_statement = event.software_statement
            self.software_id = event.software_id
            if self.blocked is not None:
                self.blocked = None
                self._forget_credentials()
                self._gave_up = False
        else:
            raise LifecycleError(f"unknown event {event!r}")
        name = type(event).__name__
        if name not in QUIET_EVENTS:
            self._move(name, self._settled())

    def restore(
        self, client_id: str, client_secret: str, issued_at: float, lifetime: float
    ) -> None:
        """Start from what the app's storage kept from before the run: client credentials
        and (unless the app caches no token) a token issued at driver time `issued_at`
        that lives `lifetime` driver seconds — a warm installed base."""
        self.credentials = Credentials(client_id, client_secret, self.software_id)
        self._ever_registered = True
        if self.config.antipattern != "no_token_cache":
            reading = self.reading(issued_at)
            if self.config.basis == "exp":
                expiry = issued_at + lifetime
            else:
                expiry = reading + lifetime * self.clock.rate
            self.token = self._token(
                f"{issued_at + lifetime!r}|{self.software_id}|{client_id}",
                issued_at,
                reading,
                expiry,
                lifetime,
            )
        self._move("Restored", self._settled())

    def straight_call(self, route: str, now: float) -> CallApi | None:
        """The `CallApi` that `ApiCallDue(route)` then `next_action(now)` would start now, or
        None unless the call goes straight out on the cached token (`usable_until`). Reads
        only: a driver that counts a run of calls in bulk sends this and reports the run
        with `api_calls_succeeded`, without feeding the due event or starting the call."""
        token = self.token
        if token is None or self.usable_until(now) <= now:
            return None
        return CallApi(route, token.value)

    def api_calls_succeeded(self, count: int, now: float) -> None:
        """The driver sent `count` more due API calls on the cached token, each answered 2xx.

        Exactly what `count` rounds of ApiCallDue → CallApi → Response(200) would have done,
        in one call: a driver that counts a run of calls in bulk reports it here, so that
        `requests_sent` (which a retry budget divides by) and the retry state stay as if the
        calls had been stepped one by one. Legal only while READY, with nothing pending.
        """
        if count <= 0:
            return
        self._move("ApiCallsSucceeded", State.READY)
        if self.config.antipattern == "no_token_cache":
            raise LifecycleError("a no_token_cache instance fetches a token per call: no bulk")
        if self.token is not None:
            self.token.for_call = False  # as starting the first of them would have
        self.requests_sent += count
        self._api_wanted = None
        self._api_rejections = 0
        self._gave_up = False
        self._retry_attempt = 0
        self._retry_delay = 0.0
        self._retry_until = -math.inf

    def _forget_credentials(self) -> None:
        self.credentials = None
        self.token = None
        self._refresh_failed = False

    def _answer(
        self, pending: Action, event: Response | Failure | Reauthenticated, now: float
    ) -> None:
        if type(event) is Response and 200 <= event.status < 300:  # "ok": the common case
            self._retry_attempt = 0
            self._retry_delay = 0.0
            self._retry_until = -math.inf
            kind = type(pending)
            if kind is FetchToken:
                self._after_token("ok", event.body, event.headers, now)
                return
            if kind is CallApi:
                self._after_api("ok", event.headers, now)
                return
            if kind is Register:
                self._after_register("ok", event.body, event.headers, now)
                return
        if isinstance(pending, Reauthenticate):
            if not isinstance(event, Reauthenticated):
                raise LifecycleError(f"{event!r} does not answer {pending!r}")
            self.needs_reauthentication = False
            self.reauthentications += 1
            return
        if isinstance(event, Reauthenticated):
            raise LifecycleError(f"{event!r} does not answer {pending!r}")
        body: Mapping[str, Any]
        headers: Mapping[str, str]
        if isinstance(event, Failure):
            outcome, body, headers = "transient", {}, {}
        else:
            body, headers = event.body, event.headers
            outcome = classify(event.status, body)
        if outcome == "ok":
            self._retry_attempt = 0
            self._retry_delay = 0.0
            self._retry_until = -math.inf
        if isinstance(pending, Register):
            self._after_register(outcome, body, headers, now)
        elif isinstance(pending, FetchToken):
            self._after_token(outcome, body, headers, now)
        elif isinstance(pending, CallApi):
            self._after_api(outcome, headers, now)
        else:  # pragma: no cover - _pending only ever holds request actions
            raise LifecycleError(f"cannot answer {pending!r}")

    def _after_register(
        self, outcome: str, body: Mapping[str, Any], headers: Mapping[str, str], now: float
    ) -> None:
        if outcome == "ok":
            client_id, secret = body.get("client_id"), body.get("client_secret")
            if not isinstance(client_id, str) or not isinstance(secret, str):
                self._give_up()
                return
            self.credentials = Credentials(client_id, secret, self.software_id)
            self.token = None
            self._refresh_failed = False
            self.registrations += 1
            if self._ever_registered:
                self.needs_reauthentication = True
            self._ever_registered = True
        elif outcome == "revoked":
            self.blocked = f"software statement {self.software_id} refused"
        elif outcome == "transient":
            self._schedule_retry("register", headers, now)
        else:
            self._give_up()

    def _after_token(
        self, outcome: str, body: Mapping[str, Any], headers: Mapping[str, str], now: float
    ) -> None:
        if outcome == "ok":
            token = self._parse_token(body, now)
            if token is None:
                self._give_up()
                return
            token.for_call = self._api_wanted is not None
            self.token = token
            self._refresh_failed = False
            return
        if outcome == "register_again":
            self._forget_credentials()
        elif outcome in ("revoked", "unauthorized"):
            credentials = self.credentials
            if credentials is not None and credentials.software_id != self.software_id:
                self._forget_credentials()  # an update already brought a new statement
            else:
                self.blocked = f"client of software statement {self.software_id} refused"
        elif outcome == "transient":
            self._refresh_failed = self.token is not None
            self._schedule_retry("token", headers, now)
        else:
            self._refresh_failed = self.token is not None
            self._give_up(keep_call=self._refresh_failed)

    def _after_api(self, outcome: str, headers: Mapping[str, str], now: float) -> None:
        if outcome == "ok":
            self._api_wanted = None
            if self.config.antipattern == "no_token_cache":
                self.token = None
        elif outcome in ("unauthorized", "register_again", "revoked"):
            if self.token is not None:
                self.token.rejected = True
            self._api_rejections += 1
            if self._api_rejections > 1 and self.config.antipattern != "unbounded_401_loop":
                self._api_wanted = None
                self.failed_api_calls += 1
        elif outcome == "transient":
            self._schedule_retry("api", headers, now)
        else:
            self._api_wanted = None
            self.failed_api_calls += 1

    def _parse_token(self, body: Mapping[str, Any], now: float) -> Token | None:
        """Read the lifetime on the cohort's basis and plan the refresh; None if malformed."""
        value, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(value, str) or not isinstance(expires_in, (int, float)):
            return None
        config = self.config
        scale = config.time_scale
        reading = now if self._exact else self.clock.reading(self._basis, now)
        if self._basis == "exp":
            exp = jwt_claims(value).get("exp") if value.count(".") == 2 else None
            if not isinstance(exp, (int, float)):
                created = body.get("created_at")
                if not isinstance(created, (int, float)):
                    return None
                exp = created / 1000.0 + expires_in
            expiry = (float(exp) - config.epoch) * scale
        else:
            expiry = reading + float(expires_in) * scale * self.clock.rate
        return self._token(value, now, reading, expiry, float(expires_in) * scale)

    def _token(
        self, value: str, now: float, reading: float, expiry: float, lifetime: float
    ) -> Token:
        """A token that arrived at `now` (reading `reading`), with its refresh planned."""
        plan = self.config.refresh.plan(reading, expiry, self.rng)
        return Token(
            value, now, now + MIN_TOKEN_USE * lifetime, expiry, plan.refresh_at, plan.mandatory_at
        )

    def _schedule_retry(self, kind: str, headers: Mapping[str, str], now: float) -> None:
        policy = self.config.retry
        self._retry_attempt += 1
        delay = policy.delay(self._retry_attempt, self._retry_delay, self.retry_rng)
        if delay is None or not self._within_budget(policy.budget):
            if (
                self.config.after_give_up == "keep_timer"
                and not self.foreground
                and self.config.platform != "mobile"
            ):  # the background timer stays armed: a fresh round of retries after a pause
                self._retry_attempt, self._retry_delay = 0, 0.0
                self._retry_until = now + getattr(policy, "cap", GIVE_UP_PAUSE)
                self._retry_for = kind
                return
            self._give_up(keep_call=kind == "token" and self._refresh_failed)
            return
        self.retries += 1
        if policy.honour_retry_after:
            delay = max(delay, _retry_after(headers))
        self._retry_delay = delay
        self._retry_until = now + delay
        self._retry_for = kind

    def _within_budget(self, budget: float | None) -> bool:
        """Google SRE's retry budget: retries stay within `budget` of all requests sent
        (with an allowance of RETRY_BUDGET_FLOOR so a fresh client may retry at all)."""
        if budget is None:
            return True
        return self.retries < max(RETRY_BUDGET_FLOOR, budget * self.requests_sent)

    def _give_up(self, keep_call: bool = False) -> None:
        """Stop trying until the next launch or API call.

        The wanted call fails, unless `keep_call`: a refresh failed while an old token is
        still at hand, and the call goes out on it if the strategy allows (before the
        mandatory time) — else `next_action` counts it failed.
        """
        if self._api_wanted is not None and not keep_call:
            self.failed_api_calls += 1
            self._api_wanted = None
        self._retry_attempt = 0
        self._retry_delay = 0.0
        self._retry_until = -math.inf
        self._gave_up = True


WAIT_FOREVER = Wait(math.inf)
"""Nothing to do until the next event (one shared value: `Wait` is immutable)."""

_ANSWERS = (Response, Failure, Reauthenticated)
"""Events that answer the pending action (a tuple: `isinstance` with a `|` union is slower)."""

_STARTED: dict[type, tuple[str, State]] = {
    Register: ("Register", State.REGISTERING),
    FetchToken: ("FetchToken", State.FETCHING),
    CallApi: ("CallApi", State.CALLING),
    Reauthenticate: ("Reauthenticate", State.REAUTHENTICATING),
}
"""What starting each action is called in `TRANSITIONS`, and the state it leads to."""


def _retry_after(headers: Mapping[str, str]) -> float:
    value = headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 0.0
