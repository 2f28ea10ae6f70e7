"""Retry policies: "after this failure, wait how long, or give up?"

A policy is a frozen model chosen by `kind` with one method, `delay(attempt, previous, rng)`,
which returns the seconds to wait before retry number `attempt` (1 for the first retry) or
None to give up. Randomness comes from the `rng` handed in. Whether an error is worth a
retry at all is decided by `classify` in `dcrload.core.lifecycle`, not here: 429, 5xx and
timeouts are transient; `invalid_client` means register again; other 400s are permanent.
"""

from __future__ import annotations

import random
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dcrload.model.distributions import Duration


class _Policy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    honour_retry_after: bool = False
    """Wait at least the server's Retry-After when it sends one."""
    budget: float | None = Field(default=None, gt=0, le=1)
    """Retries at most this share of requests (Google SRE's retry budget); None: no budget."""


class NoRetry(_Policy):
    """Give up at the first failure."""

    kind: Literal["none"] = "none"

    def delay(self, attempt: int, previous: float, rng: random.Random) -> float | None:
        return None


class Immediate(_Policy):
    """The naive client: retry at once, up to `attempts` times."""

    kind: Literal["immediate"] = "immediate"
    attempts: int = Field(ge=1, default=1000)

    def delay(self, attempt: int, previous: float, rng: random.Random) -> float | None:
        return 0.0 if attempt <= self.attempts else None


class FixedDelay(_Policy):
    """Wait `delay` between attempts."""

    kind: Literal["fixed"] = "fixed"
    wait: Duration = Field(alias="delay", default=5.0, ge=0)
    attempts: int = Field(ge=1, default=5)

    def delay(self, attempt: int, previous: float, rng: random.Random) -> float | None:
        return self.wait if attempt <= self.attempts else None


_MAX_DOUBLINGS = 1000
"""Past this many doublings the cap has long won; 2 ** 1024 would not fit a float."""


class Exponential(_Policy):
    """Wait base·2^(attempt-1), capped."""

    kind: Literal["exponential"] = "exponential"
    base: Duration = Field(default=1.0, gt=0)
    cap: Duration = Field(default=300.0, gt=0)
    attempts: int = Field(ge=1, default=8)

    def delay(self, attempt: int, previous: float, rng: random.Random) -> float | None:
        if attempt > self.attempts:
            return None
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS))


class FullJitter(_Policy):
    """Wait uniformly in [0, min(cap, base·2^(attempt-1))] (AWS architecture blog)."""

    kind: Literal["full_jitter"] = "full_jitter"
    base: Duration = Field(default=1.0, gt=0)
    cap: Duration = Field(default=300.0, gt=0)
    attempts: int = Field(ge=1, default=8)

    def delay(self, attempt: int, previous: float, rng: random.Random) -> float | None:
        if attempt > self.attempts:
            return None
        return rng.uniform(0.0, min(self.cap, self.base * 2.0 ** min(attempt - 1, _MAX_DOUBLINGS)))


class DecorrelatedJitter(_Policy):
    """Wait uniformly in [base, 3·previous wait], capped."""

    kind: Literal["decorrelated_jitter"] = "decorrelated_jitter"
    base: Duration = Field(default=1.0, gt=0)
    cap: Duration = Field(default=300.0, gt=0)
    attempts: int = Field(ge=1, default=8)

    def delay(self, attempt: int, previous: float, rng: random.Random) -> float | None:
        if attempt > self.attempts:
            return None
        return min(self.cap, rng.uniform(self.base, max(self.base, 3 * previous)))


RetryPolicy = Annotated[
    NoRetry | Immediate | FixedDelay | Exponential | FullJitter | DecorrelatedJitter,
    Field(discriminator="kind"),
]
"""A policy table such as `{kind = "full_jitter", base = "1s", cap = "5m"}`, or a kind name."""

RETRY_KINDS = ("none", "immediate", "fixed", "exponential", "full_jitter", "decorrelated_jitter")


def resolve_retry(value: Any) -> Any:
    """Let a scenario say `retry = "full_jitter"` for the policy with its defaults."""
    if isinstance(value, str):
        if value not in RETRY_KINDS:
            raise ValueError(f"unknown retry policy {value!r}; policies: {', '.join(RETRY_KINDS)}")
        return {"kind": value}
    return value
