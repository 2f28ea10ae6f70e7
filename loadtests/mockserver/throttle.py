"""Per-device token buckets, as the real service throttles (1 request/s, burst 10).

The clock is passed in, so a test can fire 20 requests "at once" and then step time by
exactly one second without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

from dcrload.core.throttle import TokenBucket

_PRUNE_AT = 200_000  # buckets kept before idle, full ones are dropped


class Throttle:
    """`allow(key)` spends one token from `key`'s bucket, or says no."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("throttle rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def configure(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)

    def allow(self, key: str) -> bool:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            bucket = self._buckets[key] = TokenBucket(self.burst, now)
        return bucket.take(now, self.rate, self.burst)

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        self._buckets = {k: b for k, b in self._buckets.items() if now - b.since < full_after}


def device_key(headers: dict[bytes, bytes], peer: str) -> str:
    """Which bucket a request spends from: X-Forwarded-For, AP-Device-Identifier, peer."""
    forwarded = headers.get(b"x-forwarded-for")
    if forwarded:
        first = forwarded.split(b",", 1)[0].strip()
        if first:
            return "xff:" + first.decode("latin-1")
    device = headers.get(b"ap-device-identifier")
    if device:
        return "dev:" + device.decode("latin-1")
    return "peer:" + peer
