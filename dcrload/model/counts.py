"""What a run counts, by endpoint, outcome and time bin — each request exactly once.

One `RunCounts` is the recorder every agent of a driver process writes to, whichever driver
runs it (SimPy, the run-to-completion loop, Locust): requests by endpoint and outcome in
bins of scenario time, the user impact (re-authentications, expired-token calls, blocked
time), the faults that struck, and the same per cohort. Nothing here depends on the order
in which instances report, so instances can be stepped one at a time or all together, and
the counts of several processes merge by adding (`merge`), exactly.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("register", "token", "api")
COHORT_KEYS = ("register", "token", "api", "reauthentications", "expired_token_calls")


def bin_count(duration: float, width: float) -> int:
    return max(1, math.ceil(duration / width - 1e-9))


class Counters:
    """Request counts in fixed-width bins over [0, duration)."""

    def __init__(self, duration: float, bin_width: float) -> None:
        self.bin_width = bin_width
        self.bins = bin_count(duration, bin_width)
        self.duration = duration
        self._series: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * self.bins)

    def add(self, endpoint: str, outcome: str, t: float, n: int = 1) -> None:
        if 0 <= t < self.duration:
            self._series[endpoint, outcome][min(self.bins - 1, int(t // self.bin_width))] += n

    def add_series(self, endpoint: str, outcome: str, first: float, step: float, n: int) -> None:
        """Count `n` requests at first, first+step, ... (those inside [0, duration))."""
        if n <= 0:
            return
        row = self._series[endpoint, outcome]
        width = self.bin_width
        k = 0
        while k < n:
            t = first + k * step
            if t >= self.duration:
                return
            index = int(t // width)
            bin_end = (index + 1) * width
            in_bin = min(n - k, math.ceil((bin_end - t) / step - 1e-12))
            if t >= 0:
                row[min(index, self.bins - 1)] += in_bin
            k += max(1, in_bin)

    def add_row(self, endpoint: str, outcome: str, row: Sequence[int]) -> None:
        acc = self._series[endpoint, outcome]
        for index, count in enumerate(row[: self.bins]):
            acc[index] += count

    def items(self) -> list[tuple[str, str, list[int]]]:
        """(endpoint, outcome, per-bin counts), sorted for stable output."""
        return [(e, o, row) for (e, o), row in sorted(self._series.items())]

    def total(self, endpoint: str, outcome: str | None = None) -> int:
        return sum(
            sum(row)
            for (e, o), row in self._series.items()
            if e == endpoint and (outcome is None or o == outcome)
        )

    def per_bin(self, endpoint: str) -> list[int]:
        """All outcomes of one endpoint, bin by bin."""
        result = [0] * self.bins
        for (e, _), row in self._series.items():
            if e == endpoint:
                result = [a + b for a, b in zip(result, row, strict=True)]
        return result


class Tally:
    """A count of happenings (re-authentications, expired-token calls), total and per bin."""

    def __init__(self, duration: float, bin_width: float) -> None:
        self.bin_width = bin_width
        self.duration = duration
        self.per_bin = [0] * bin_count(duration, bin_width)
        self.total = 0

    def add(self, t: float, n: int = 1) -> None:
        if 0 <= t < self.duration:
            self.per_bin[min(len(self.per_bin) - 1, int(t // self.bin_width))] += n
            self.total += n


class Blocked:
    """Blocked instances over time, from the moments blocks start and end, in any order.

    The level at t is the starts up to t less the ends up to t; its integral per bin and
    its peak are computed when asked, so instances may report in any order.
    """

    def __init__(self, duration: float, bin_width: float) -> None:
        self.duration = duration
        self.bin_width = bin_width
        self.bins = bin_count(duration, bin_width)
        self.starts = array("d")
        self.ends = array("d")

    def start(self, t: float) -> None:
        self.starts.append(min(max(t, 0.0), self.duration))

    def end(self, t: float) -> None:
        self.ends.append(min(max(t, 0.0), self.duration))

    def extend(self, starts: Iterable[float], ends: Iterable[float]) -> None:
        self.starts.extend(starts)
        self.ends.extend(ends)

    def level_at(self, t: float) -> int:
        starts, ends = sorted(self.starts), sorted(self.ends)
        return bisect.bisect_right(starts, t) - bisect.bisect_right(ends, t)

    def _steps(self, until: float) -> list[tuple[float, int]]:
        steps = [(t, 1) for t in self.starts if t < until] + [
            (t, -1) for t in self.ends if t < until
        ]
        steps.sort(key=lambda s: (s[0], s[1]))
        return steps

    def area(self, until: float | None = None) -> list[float]:
        """Blocked instance-seconds per bin, up to `until` (default: the end of the run)."""
        until = self.duration if until is None else min(until, self.duration)
        area = [0.0] * self.bins
        level, since = 0, 0.0
        for t, delta in [*self._steps(until), (until, 0)]:
            self._accumulate(area, level, since, t)
            level += delta
            since = t
        return area

    def _accumulate(self, area: list[float], level: int, start: float, end: float) -> None:
        t = start
        while t < end and level:
            index = min(self.bins - 1, int(t // self.bin_width))
            stop = min(end, (index + 1) * self.bin_width)
            area[index] += level * (stop - t)
            t = stop

    def peak(self) -> int:
        level = best = 0
        for _, delta in self._steps(math.inf):
            level += delta
            best = max(best, level)
        return best

    def level_at_end(self) -> int:
        """Instances still blocked when the run ended (their blocks end at the duration)."""
        return sum(1 for t in self.ends if t >= self.duration) + len(self.starts) - len(self.ends)

    def mean_per_bin(self) -> list[float]:
        return [a / self.bin_width for a in self.area()]


@dataclass
class RunCounts:
    """The recorder of one driver process: every agent reports here."""

    duration: float
    bin_width: float
    cohorts: int
    counters: Counters = field(init=False)
    reauthentications: Tally = field(init=False)
    expired_calls: Tally = field(init=False)
    blocked: Blocked = field(init=False)
    losses: int = 0
    updates: int = 0
    api_wanted: int = 0
    failed_api_calls: int = 0
    instances: int = 0
    by_cohort: list[dict[str, int]] = field(init=False)

    def __post_init__(self) -> None:
        self.counters = Counters(self.duration, self.bin_width)
        self.reauthentications = Tally(self.duration, self.bin_width)
        self.expired_calls = Tally(self.duration, self.bin_width)
        self.blocked = Blocked(self.duration, self.bin_width)
        self.by_cohort = [dict.fromkeys((*COHORT_KEYS, "instances", "failed_api_calls"), 0)
                          for _ in range(self.cohorts)]  # fmt: skip

    # ------------------------------------------------------------------ what agents report

    def request(self, endpoint: str, outcome: str, t: float, cohort: int) -> None:
        if 0 <= t < self.duration:
            self.counters.add(endpoint, outcome, t)
            self.by_cohort[cohort][endpoint] += 1

    def series(self, endpoint: str, outcome: str, first: float, step: float, n: int,
               cohort: int) -> None:  # fmt: skip
        self.counters.add_series(endpoint, outcome, first, step, n)
        if first < self.duration and n > 0:
            inside = min(n, math.ceil((self.duration - first) / step - 1e-12))
            self.by_cohort[cohort][endpoint] += max(0, inside)

    def expired(self, t: float, cohort: int) -> None:
        if 0 <= t < self.duration:
            self.expired_calls.add(t)
            self.by_cohort[cohort]["expired_token_calls"] += 1

    def reauthenticated(self, t: float, cohort: int) -> None:
        if 0 <= t < self.duration:
            self.reauthentications.add(t)
            self.by_cohort[cohort]["reauthentications"] += 1

    def joined(self, cohort: int) -> None:
        self.instances += 1
        self.by_cohort[cohort]["instances"] += 1

    def left(self, cohort: int, failed_api_calls: int) -> None:
        self.failed_api_calls += failed_api_calls
        self.by_cohort[cohort]["failed_api_calls"] += failed_api_calls

    # ------------------------------------------------------------------ merging

    def to_json(self, until: float | None = None) -> dict[str, Any]:
        """Plain JSON of everything counted (for worker reports and shards)."""
        return {
            "series": [[e, o, list(row)] for e, o, row in self.counters.items()],
            "reauthentications": list(self.reauthentications.per_bin),
            "expired_calls": list(self.expired_calls.per_bin),
            "blocked_starts": list(self.blocked.starts),
            "blocked_ends": list(self.blocked.ends),
            "losses": self.losses,
            "updates": self.updates,
            "api_wanted": self.api_wanted,
            "failed_api_calls": self.failed_api_calls,
            "instances": self.instances,
            "by_cohort": [dict(c) for c in self.by_cohort],
        }

    def merge(self, data: dict[str, Any]) -> None:
        """Add the counts of another process (`to_json` of its RunCounts)."""
        for endpoint, outcome, row in data.get("series", []):
            self.counters.add_row(endpoint, outcome, row)
        for tally, key in ((self.reauthentications, "reauthentications"),
                           (self.expired_calls, "expired_calls")):  # fmt: skip
            for index, n in enumerate(data.get(key, [])[: len(tally.per_bin)]):
                tally.per_bin[index] += n
                tally.total += n
        self.blocked.extend(data.get("blocked_starts", []), data.get("blocked_ends", []))
        for key in ("losses", "updates", "api_wanted", "failed_api_calls", "instances"):
            setattr(self, key, getattr(self, key) + int(data.get(key, 0)))
        for mine, theirs in zip(self.by_cohort, data.get("by_cohort", []), strict=False):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n


@dataclass
class RunResult:
    """Everything one run counted; `dcrload.results` turns it into files."""

    scenario: Any
    """The `dcrload.model.scenario.Scenario` that ran."""
    seed: int
    duration: float
    counts: RunCounts
    installs: int
    cold_instances: int
    clients_registered: int
    tokens_issued: int
    events: int
    wall_seconds: float
    engine: dict[str, Any] = field(default_factory=dict)

    @property
    def counters(self) -> Counters:
        return self.counts.counters

    def cohort_summary(self) -> dict[str, dict[str, int]]:
        result: dict[str, dict[str, int]] = {}
        for index, cohort in enumerate(self.scenario.cohorts):
            counts = self.counts.by_cohort[index]
            name = cohort.name or f"cohort-{index}"
            result[name] = {
                key: counts.get(key, 0) for key in ("instances", *COHORT_KEYS, "failed_api_calls")
            }
        return result
