"""How a fleet uses its apps over time, as pure functions of time.

The SimPy fleet draws sessions and installs from these; the Locust load shape follows the
same curves (`expected_installed`, `expected_in_session`), so the simulation and the load
test share one definition of "how many instances are busy at time t".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dcrload.core.streams import Rng
from dcrload.model.scenario import Fleet, Installs, Usage

DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class Diurnal:
    """Session starts per second per instance over the day: `per_day` shaped by 24 weights."""

    per_day: float
    weights: tuple[float, ...]
    rates: tuple[float, ...] = ()
    """Session starts per second per instance in each hour (derived)."""
    _past: tuple[float, ...] = ()
    """Per hour: an intensity beyond which a start is surely after the hour (derived)."""
    _masses: tuple[float, ...] = ()
    """Per hour: its whole intensity, HOUR · rate, as `next_start` subtracts it (derived)."""

    def __post_init__(self) -> None:
        rates = tuple(self.per_day / DAY * w for w in self.weights)
        object.__setattr__(self, "rates", rates)
        masses = tuple(HOUR * rate for rate in rates)
        object.__setattr__(self, "_masses", masses)
        object.__setattr__(self, "_past", tuple(mass * (1.0 + 1e-6) for mass in masses))

    @classmethod
    def from_usage(cls, usage: Usage) -> Diurnal:
        mean = sum(usage.diurnal) / 24.0
        return cls(usage.sessions_per_day, tuple(w / mean for w in usage.diurnal))

    def rate(self, t: float) -> float:
        """Session starts per second per instance at scenario time `t`."""
        return self.rates[int(t % DAY // HOUR)]

    def next_start(self, after: float, rng: Rng) -> float:
        """The next session start after `after`, by inverting the piecewise-constant intensity.

        Hour by hour: the start is inside the hour if the intensity still needed is spent
        before its end, else the hour's intensity is subtracted. A whole hour begins and
        ends on multiples of HOUR, so what is subtracted is `_masses[h]` exactly, and an
        intensity above `_past[h]` (a millionth more) surely outlasts the hour: those hours
        are skipped without the division, with the same arithmetic as the full step.
        """
        if self.per_day <= 0:
            return math.inf
        need = rng.expovariate(1.0)
        rates = self.rates
        t = after
        hour = int(t // HOUR)
        hour_end = (hour + 1) * HOUR
        rate = rates[hour % 24]
        if rate > 0:  # the hour `after` falls in
            span = need / rate
            if t + span < hour_end:
                return t + span
            need -= (hour_end - t) * rate
        hour += 1
        past, masses = self._past, self._masses
        while True:
            at = hour % 24
            while need > past[at]:
                need -= masses[at]
                hour += 1
                at = hour % 24
            t = hour * HOUR
            rate = rates[at]
            if rate > 0:
                span = need / rate
                if t + span < t + HOUR:
                    return t + span
                need -= HOUR * rate
            hour += 1


def installs_by(installs: Installs, t: float) -> float:
    """Expected new installs in [0, t] (not counting the installed base)."""
    if t <= 0 or installs.kind == "none":
        return 0.0
    if installs.kind == "constant":
        return installs.per_day * t / DAY
    return installs.total * (_logistic(t, installs) - _logistic(0.0, installs))


def _logistic(t: float, installs: Installs) -> float:
    z = (t - installs.peak_at) / installs.width
    return 1.0 / (1.0 + math.exp(-max(-700.0, min(700.0, z))))


def install_times(installs: Installs, duration: float, rng: Rng) -> list[float]:
    """Install times in [0, duration): a Poisson process with the curve's intensity."""
    expected = installs_by(installs, duration)
    if expected <= 0:
        return []
    count = _poisson(expected, rng)
    times = [_invert(installs, rng.random() * expected, duration) for _ in range(count)]
    return sorted(times)


def _invert(installs: Installs, target: float, duration: float) -> float:
    low, high = 0.0, duration
    for _ in range(60):
        mid = (low + high) / 2
        if installs_by(installs, mid) < target:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def _poisson(mean: float, rng: Rng) -> int:
    if mean > 500:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count


def expected_installed(fleet: Fleet, t: float) -> float:
    """Expected installed instances at time t: base plus installs, less churn."""
    keep = math.exp(-fleet.churn_per_day * t / DAY)
    if fleet.installs.kind == "constant" and fleet.churn_per_day > 0:
        c = fleet.churn_per_day / DAY
        arrived = fleet.installs.per_day / DAY * (1 - keep) / c
        return fleet.instances * keep + arrived
    return fleet.instances * keep + installs_by(fleet.installs, t)


def expected_in_session(usage: Usage, t: float) -> float:
    """Chance that an instance is in a session at time t (Little's law, hour by hour)."""
    diurnal = Diurnal.from_usage(usage)
    return min(1.0, diurnal.rate(t) * usage.session_length.mean)
