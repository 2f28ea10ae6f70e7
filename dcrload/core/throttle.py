"""The token bucket the real service throttles with (1 request/s per device, burst 10).

One implementation for both the simulated server (`sim.server`) and the mock service
(`loadtests.mockserver.throttle`), so the two cannot disagree on what "10 at once, then one
per second" means. Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations


class TokenBucket:
    """Holds up to `burst` tokens, refilled at `rate` per second; full when created."""

    __slots__ = ("level", "since")

    def __init__(self, burst: float, now: float) -> None:
        self.level = float(burst)
        self.since = now

    def level_at(self, now: float, rate: float, burst: float) -> float:
        """Tokens the bucket would hold at `now` (without spending any)."""
        return min(burst, self.level + (now - self.since) * rate)

    def take(self, now: float, rate: float, burst: float) -> bool:
        """Spend one token at `now` if there is one; False means throttle (429)."""
        self.level = self.level_at(now, rate, burst)
        self.since = now
        if self.level >= 1.0:
            self.level -= 1.0
            return True
        return False

    def take_series(self, first: float, step: float, n: int, rate: float, burst: float) -> None:
        """Spend one token at each of first, first+step, ... (n times), in closed form.

        Only for a series the bucket is known to admit: a token at `first` and at least one
        refilled between two requests (step·rate ≥ 1), so the level never falls below where
        it starts and rises by step·rate − 1 per request up to burst − 1.
        """
        if n <= 0:
            return
        start = self.level_at(first, rate, burst) - 1.0
        self.level = min(burst - 1.0, start + (n - 1) * (step * rate - 1.0))
        self.since = first + (n - 1) * step
