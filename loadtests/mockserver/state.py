"""`MockState`: everything one running mock knows, built from `MockSettings`.

Routes read it; the admin API changes the parts that may change at run time (TTL and its
jitter, the throttle, faults, quirks, revocations). The clock is injected: tests pass a
fake one and step it; the server uses `time.time`.
"""

from __future__ import annotations

import copy
import json
import os
import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from loadtests.mockserver import shared
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
        self.stats_epoch = self.data_epoch = 0  # bumped by resets, so other workers follow
        self._version = -1
        self._shared_db = None
        if self.store.shared:
            self._shared_db = shared.connect(shared.shared_path(self.store.path))
            self.shared_stats = shared.SharedStats(self._shared_db, os.getpid())
        self.reset()
        self.sync()

    def reset(self) -> None:
        """Back to the start-up settings: faults, throttle, TTL, quirks, counters."""
        self.ttl = self.settings.ttl
        self.ttl_jitter = self.settings.ttl_jitter
        self.quirks = set(self.settings.quirks)
        refresh = self.sync if self.store.shared else None
        self.faults = Faults(max_hang=self.settings.max_hang, refresh=refresh)
        self.set_throttle(copy.copy(self.settings.throttle))
        self.stats = Stats()

    def set_throttle(self, throttle: ThrottleSettings) -> None:
        """New throttle settings, and full buckets (for every worker, when shared)."""
        self.throttle_settings = throttle
        if self._shared_db is not None:
            self.throttle = shared.SharedThrottle(
                self._shared_db, throttle.rate, throttle.burst, self.clock
            )
            self.throttle.reset()
        else:
            self.throttle = Throttle(throttle.rate, throttle.burst, self.clock)

    # ------------------------------------------------------------------ shared mode

    def sync(self) -> None:
        """Shared mode: take what another worker changed (cheap when nothing did)."""
        if not self.store.shared:
            return
        version = self.store.data_version()
        if version == self._version:
            return
        self._version = version
        raw = self.store.get_meta(shared.RUNTIME)
        if raw is not None:
            shared.apply_runtime(self, json.loads(raw))
        self.store.reload_revocations()

    def publish(self) -> None:
        """Shared mode: tell the other workers what the admin API just changed here."""
        if self.store.shared:
            self.store.set_meta(shared.RUNTIME, json.dumps(shared.runtime_of(self)).encode())

    def flush_stats(self) -> None:
        if self.store.shared:
            self.shared_stats.write(self.stats.snapshot(0))

    def stats_snapshot(self) -> dict[str, Any]:
        """``/admin/stats``: this process's counters, or every worker's summed."""
        if not self.store.shared:
            return self.stats.snapshot(self.store.client_count())
        self.flush_stats()
        total = self.shared_stats.total()
        total["clients_known"] = self.store.client_count()
        return total

    def token_lifetime(self) -> int:
        """Seconds the next token lives: the TTL with its jitter, at least one second."""
        ttl = self.ttl
        if self.ttl_jitter:
            ttl *= 1.0 - self.ttl_jitter * self.rng.random()
        return max(1, round(ttl))
