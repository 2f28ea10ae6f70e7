"""`MockState`: everything one running mock knows, built from `MockSettings`.

Routes read it; the admin API changes the parts that may change at run time (TTL and its
jitter, the throttle, faults, quirks, revocations). The clock is injected: tests pass a
fake one and step it; the server uses `time.time`.
"""

from __future__ import annotations

import copy
import random
import secrets
import time
from collections.abc import Callable

from loadtests.mockserver.faults import Faults
from loadtests.mockserver.settings import MockSettings, ThrottleSettings
from loadtests.mockserver.stats import Stats
from loadtests.mockserver.store import Store
from loadtests.mockserver.throttle import Throttle
from loadtests.mockserver.tokens import TokenIssuer
from loadtests.statements import SigningKey


class MockState:
    def __init__(
        self,
        settings: MockSettings,
        trusted_keys: dict[str, SigningKey],
        store: Store | None = None,
        admin_key: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.paths = settings.resolved_paths
        self.keys = trusted_keys
        self.store = store if store is not None else Store(":memory:")
        self.admin_key = admin_key or secrets.token_urlsafe(24)
        self.clock = clock
        self.rng = random.Random(settings.seed)
        self.issuer = TokenIssuer(
            self.store,
            settings.token_alg,
            settings.issuer,
            settings.scopes,
            clock,
            audience=settings.token_audience,
            memo=settings.token_memo,
        )
        self.stats = Stats()
        self.reset()

    def reset(self) -> None:
        """Back to the start-up settings: faults, throttle, TTL, quirks, counters."""
        self.ttl = self.settings.ttl
        self.ttl_jitter = self.settings.ttl_jitter
        self.quirks = set(self.settings.quirks)
        self.faults = Faults(max_hang=self.settings.max_hang)
        self.set_throttle(copy.copy(self.settings.throttle))
        self.stats = Stats()

    def set_throttle(self, throttle: ThrottleSettings) -> None:
        self.throttle_settings = throttle
        self.throttle = Throttle(throttle.rate, throttle.burst, self.clock)

    def token_lifetime(self) -> int:
        """Seconds the next token lives: the TTL with its jitter, at least one second."""
        ttl = self.ttl
        if self.ttl_jitter:
            ttl *= 1.0 - self.ttl_jitter * self.rng.random()
        return max(1, round(ttl))
