"""Retry policies: "after this failure, wait how long, or give up?"

A policy is a small frozen dataclass with one method, `delay(attempt, previous, rng)`, which
returns the seconds to wait before retry number `attempt` (1 for the first retry) or None
to give up. Randomness comes from the `rng` handed in. Whether an error is worth a retry at
all is decided by `classify` in `dcrload.core.lifecycle`, not here: 429, 5xx and timeouts
are transient; `invalid_client` means register again; other 400s are permanent. The
scenario's schema (`dcrload.model.policies`) validates a policy name or table and builds
these objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dcrload.core.streams import Rng


@dataclass(frozen=True, slots=True)
class NoRetry:
    """Give up at the first failure."""

    honour_retry_after: bool = False
    """Wait at least the server's Retry-After when it sends one."""
    budget: float | None = None
    """Retries at most this share of requests (Google SRE's retry budget); None: no budget."""
    kind: ClassVar[str] = "none"

    def delay(self, attempt: int, previous: float, rng: Rng) -> float | None:
        return None


@dataclass(frozen=True, slots=True)
class Immediate:
    """The naive client: retry at once, up to `attempts` times."""

    honour_retry_after: bool = False
    budget: float | None = None
    attempts: int = 1000
    kind: ClassVar[str] = "immediate"

    def delay(self, attempt: int, previous: float, rng: Rng) -> float | None:
        return 0.0 if attempt <= self.attempts else None


@dataclass(frozen=True, slots=True)
class FixedDelay:
    """Wait `wait` seconds between attempts."""

    honour_retry_after: bool = False
    budget: float | None = None
    wait: float = 5.0
    attempts: int = 5
    kind: ClassVar[str] = "fixed"

    def delay(self, attempt: int, previous: float, rng: Rng) -> float | None:
        return self.wait if attempt <= self.attempts else None


_MAX_DOUBLINGS = 1000
"""Past this many doublings the cap has long won; 2 ** 1024 would not fit a float."""


@dataclass(frozen=True, slots=True)
class Exponential:
    """Wait base·2^(attempt-1), capped."""

    honour_retry_after: bool = False
    budget: float | None = None
    base: float = 1.0
    cap: float = 300.0
    attempts: int = 8
    kind: ClassVar[str] = "exponential"

    def delay(self, attempt: int, previous: float, rng: Rng) -> float | None:
        if attempt > self.attempts:
            return None
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))


@dataclass(frozen=True, slots=True)
class FullJitter:
    """Wait uniformly in [0, min(cap, base·2^(attempt-1))] (AWS architecture blog)."""

    honour_retry_after: bool = False
    budget: float | None = None
    base: float = 1.0
    cap: float = 300.0
    attempts: int = 8
    kind: ClassVar[str] = "full_jitter"

    def delay(self, attempt: int, previous: float, rng: Rng) -> float | None:
        if attempt > self.attempts:
            return None
        doublings = min(attempt - 1, _MAX_DOUBLINGS)
        return rng.uniform(0.0, min(self.cap, self.base * 2.0**doublings))


@dataclass(frozen=True, slots=True)
class DecorrelatedJitter:
    """Wait uniformly in [base, 3·previous wait], capped."""

    honour_retry_after: bool = False
    budget: float | None = None
    base: float = 1.0
    cap: float = 300.0
    attempts: int = 8
    kind: ClassVar[str] = "decorrelated_jitter"

    def delay(self, attempt: int, previous: float, rng: Rng) -> float | None:
        if attempt > self.attempts:
            return None
        return min(self.cap, rng.uniform(self.base, max(self.base, 3 * previous)))


RetryPolicy = NoRetry | Immediate | FixedDelay | Exponential | FullJitter | DecorrelatedJitter
"""Every retry policy the lifecycle knows."""

RETRY_KINDS = ("none", "immediate", "fixed", "exponential", "full_jitter", "decorrelated_jitter")
