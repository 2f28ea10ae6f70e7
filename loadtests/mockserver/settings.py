"""What the mock can be told at start: `MockSettings`, from flags or from a scenario.

Everything here is a plain dataclass so that tests build settings in one line. Values that
the admin API may change while the mock runs (TTL, throttle, faults) start from these and
live in `loadtests.mockserver.state.MockState` afterwards.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dcrload.core.wire import DEFAULT_PATHS, PROFILES, Paths, split_api_prefix
from loadtests.statements import STATEMENT_TYP

QUIRKS = frozenset({"register-200", "no-expires-in", "exp-mismatch", "accept-expired"})
"""Deliberate deviations, so `dcrload probe` can be shown to fail:

- ``register-200``: registration answers 200 instead of the profile's 201;
- ``no-expires-in``: the token response has no ``expires_in``;
- ``exp-mismatch``: the token's ``exp`` claim is twice ``expires_in`` after ``iat``;
- ``accept-expired``: the API accepts expired access tokens.
"""

TOKEN_ALGORITHMS = ("ES256", "EdDSA", "RS256")


@dataclass
class ThrottleSettings:
    """Token bucket per device: `rate` tokens per second, bucket size `burst`."""

    enabled: bool = True
    rate: float = 1.0
    burst: int = 10
    retry_after: bool = False


@dataclass
class MockSettings:
    """How the mock behaves. Durations are in (already time-compressed) seconds."""

    profile: str = "adobe-pass"
    paths: Paths | None = None  # None: the profile's default paths
    ttl: float = 6 * 3600.0
    ttl_jitter: float = 0.0  # each token lives ttl * (1 - U(0, ttl_jitter)), as in the scenario
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    token_alg: str = "ES256"
    issuer: str = "dcrload-mock"  # `dcrload mock` makes it the base URL in the rfc7591 profile
    audience: str | None = None  # rfc7591: tokens' aud; None: the issuer + api_prefix
    open_registration: bool = False  # rfc7591: register without a software statement
    scopes: tuple[str, ...] = ("api:client:v2",)
    service_providers: tuple[str, ...] = ()  # empty: any service provider id
    mvpds: tuple[str, ...] = ("Cablevision", "Comcast_SSO", "DTV", "Spectrum")
    statement_typ: str = STATEMENT_TYP
    max_body_bytes: int = 16 * 1024
    max_header_bytes: int = 8 * 1024
    header_timeout: float = 10.0  # seconds a connection may take to send a request head
    body_timeout: float = 10.0  # seconds a request may take to send its body
    # Load shedding (loadtests.mockserver.shed), per DCR/API route:
    max_concurrent: int = 64  # requests of one route at work at once
    queue_deadline: float = 1.0  # seconds a request may wait before its handling starts
    shed_status: int = 503  # or 429: the answer to a request shed
    shed_retry_after: int = 1  # seconds, the Retry-After of that answer
    token_memo: int = 16_384  # access tokens remembered (LRU) to skip verifying them again
    http: str = "httptools"  # the HTTP/1.1 parser (on uvloop), or "h11" (on asyncio)
    max_hang: float = 60.0  # an outage in "hang" mode holds a request at most this long
    quirks: frozenset[str] = frozenset()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile {self.profile!r} is not one of {', '.join(PROFILES)}")
        if self.token_alg not in TOKEN_ALGORITHMS:
            raise ValueError(f"token algorithm {self.token_alg!r} not in {TOKEN_ALGORITHMS}")
        if not (math.isfinite(self.ttl) and self.ttl > 0):
            raise ValueError("ttl must be a positive number of seconds")
        if not 0 <= self.ttl_jitter < 1:
            raise ValueError("ttl_jitter must be in [0, 1)")
        for name in ("header_timeout", "body_timeout"):
            if not 0 < getattr(self, name) <= 3600:
                raise ValueError(f"{name} must be in (0, 3600] seconds")
        if not 1 <= self.max_concurrent <= 100_000:
            raise ValueError("max_concurrent must be in [1, 100000]")
        if not 0 < self.queue_deadline <= 60:
            raise ValueError("queue_deadline must be in (0, 60] seconds")
        if self.shed_status not in (429, 503):
            raise ValueError("shed_status must be 429 or 503")
        if not 0 <= self.shed_retry_after <= 3600:
            raise ValueError("shed_retry_after must be in [0, 3600] seconds")
        if not 0 <= self.token_memo <= 10_000_000:
            raise ValueError("token_memo must be in [0, 10000000]")
        if self.http not in ("httptools", "h11"):
            raise ValueError(f"http {self.http!r} is not httptools or h11")
        if self.open_registration and self.profile != "rfc7591":
            raise ValueError("open registration is for the rfc7591 profile only")
        unknown = set(self.quirks) - QUIRKS
        if unknown:
            raise ValueError(f"unknown quirk(s): {', '.join(sorted(unknown))}")
        if self.paths is None:
            self.paths = DEFAULT_PATHS[self.profile]

    @property
    def resolved_paths(self) -> Paths:
        assert self.paths is not None
        return self.paths

    @property
    def token_audience(self) -> str | None:
        """The ``aud`` of RFC 9068 access tokens (rfc7591 profile), None in adobe-pass."""
        if self.profile != "rfc7591":
            return None
        return self.audience or self.issuer.rstrip("/") + self.resolved_paths.api_prefix


def settings_from_scenario(scenario: Any, **overrides: Any) -> MockSettings:
    """Read the mock's settings from a validated `dcrload.model.scenario` model.

    Uses ``token.ttl`` / ``loadtest.time_scale``, ``token.ttl_jitter``,
    ``loadtest.profile``, ``loadtest.paths`` and ``server.throttle`` (its rate times
    ``time_scale``: a device of a compressed load test sends that much faster, so the
    bucket must refill that much faster to throttle what the scenario throttles);
    `overrides` win.
    """
    scale = float(scenario.loadtest.time_scale) or 1.0
    paths = scenario.loadtest.paths
    register = getattr(paths, "register_path", None) or paths.register
    mount, _service_provider = split_api_prefix(str(paths.api_prefix))
    throttle = scenario.server.throttle
    values: dict[str, Any] = {
        "profile": scenario.loadtest.profile,
        "paths": Paths(str(register), str(paths.token), mount),
        "ttl": max(float(scenario.token.ttl) / scale, 1.0),
        "ttl_jitter": float(getattr(scenario.token, "ttl_jitter", 0.0)),
        "throttle": ThrottleSettings(
            enabled=bool(throttle.enabled),
            rate=float(throttle.rate) * scale,
            burst=int(throttle.burst),
            retry_after=bool(throttle.retry_after),
        ),
    }
    values.update(overrides)
    return MockSettings(**values)
