"""Device clocks: how a device reads true time.

A `DeviceClock` maps driver ("true") time to the device's two readings:
- the wall clock, which has an `offset`, runs fast or slow by `skew_ppm`, and jumps by the
  `steps` the user or a daylight-saving bug made;
- the monotonic clock, which only has the skew (steps never touch it).
It also answers the inverse question the lifecycle needs to schedule a refresh: at which
true time will the reading first reach a given value. All times are seconds.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """Offset and skew apply from true time 0; `steps` are (true time, jump) pairs."""

    offset: float = 0.0
    skew_ppm: float = 0.0
    steps: Sequence[tuple[float, float]] = field(default=())
    rate: float = field(init=False)
    """Device seconds per true second."""
    exact: bool = field(init=False)
    """No offset, skew or step: every reading is true time (most devices; the fast path)."""
    _step_times: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", 1.0 + self.skew_ppm * 1e-6)
        object.__setattr__(self, "exact", not (self.offset or self.skew_ppm or self.steps))
        steps = self.steps
        object.__setattr__(self, "_step_times", tuple(s for s, _ in steps) if steps else ())

    def _stepped(self, t: float) -> float:
        if not self.steps:
            return 0.0
        index = bisect.bisect_right(self._step_times, t)
        return sum(jump for _, jump in self.steps[:index])

    def wall(self, t: float) -> float:
        """The device's wall-clock reading at true time `t`, in the true-time frame."""
        if self.exact:
            return t
        if not self.steps:
            return t * self.rate + self.offset
        return t * self.rate + self.offset + self._stepped(t)

    def monotonic(self, t: float) -> float:
        """The device's monotonic reading at true time `t` (no offset, no steps)."""
        return t * self.rate

    def reading(self, basis: str, t: float) -> float:
        """The reading the cohort's expiry basis uses: "exp" → wall, "expires_in" → monotonic."""
        if self.exact:
            return t
        if basis != "exp":
            return t * self.rate
        if not self.steps:
            return t * self.rate + self.offset
        return self.wall(t)

    def when(self, basis: str, target: float, after: float) -> float:
        """The first true time ≥ `after` at which the reading reaches `target` (inf if never)."""
        if self.exact:
            return max(after, target)
        if not self.steps:  # a line: reading = t·rate (+ offset on the wall clock)
            base = self.offset if basis == "exp" else 0.0
            return _when_on_line(self.rate, base, self, basis, target, after)
        if self.reading(basis, after) >= target:
            return after
        if basis != "exp" or not self.steps:
            base = 0.0 if basis != "exp" else self.offset
            return self._reached(basis, target, max(after, (target - base) / self.rate))
        start = after
        for step_at, _ in [*(s for s in self.steps if s[0] > after), (math.inf, 0.0)]:
            candidate = max(start, (target - self.offset - self._stepped(start)) / self.rate)
            if candidate < step_at:
                return self._reached(basis, target, candidate)
            if self.wall(step_at) >= target:
                return step_at
            start = step_at
        return math.inf

    def reads_true_time(self, basis: str) -> bool:
        """Whether the reading on `basis` is true time, bit for bit: an exact clock, or
        the monotonic clock ("expires_in") of one with no skew, whatever its offset (t·1.0
        is t, and `when` inverts it to max(after, target))."""
        return self.exact or (basis != "exp" and self.rate == 1.0 and not self.steps)

    def readers(
        self, basis: str
    ) -> tuple[Callable[[float], float], Callable[[float, float], float]]:
        """`reading(basis, ·)` and `when(basis, ·, ·)` as two functions with the branches
        this clock never takes taken once: the same values, for a loop that reads a
        clock millions of times."""
        if self.reads_true_time(basis):
            return _true_time, _true_when
        if self.steps:
            return partial(self.reading, basis), partial(self.when, basis)
        rate = self.rate
        base = self.offset if basis == "exp" else 0.0
        when = partial(_when_on_line, rate, base, self, basis)
        if basis == "exp":
            return (lambda t: t * rate + base), when
        return (lambda t: t * rate), when

    def _reached(self, basis: str, target: float, t: float) -> float:
        """Round `t` up until the reading really reaches `target` (floating-point inversion
        can land a hair short, and a timer that fires early would fire again at once)."""
        while self.reading(basis, t) < target:
            t = math.nextafter(t, math.inf) if t else math.ulp(0.0)
            t = max(t, t + abs(t) * 1e-15)
        return t


def _when_on_line(
    rate: float, base: float, clock: DeviceClock, basis: str, target: float, after: float
) -> float:
    """`when` for a clock without steps, whose reading is t·rate + base."""
    if after * rate + base >= target:
        return after
    t = (target - base) / rate
    if t < after:
        t = after
    if t * rate + base >= target:
        return t
    return clock._reached(basis, target, t)


def _true_time(t: float) -> float:
    return t


def _true_when(target: float, after: float) -> float:
    return after if after >= target else target


PERFECT = DeviceClock()
"""A clock with no error: reading == true time."""
