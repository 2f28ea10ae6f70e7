"""Requests counted by endpoint, outcome and time bin — each request exactly once.

`add` counts one request; `add_series` counts a run of evenly spaced requests (the API calls
the fleet does not step one by one) straight into the bins they fall in, so bulk counting
stays exact. `Gauge` integrates a level over time (blocked instances) per bin.
"""

from __future__ import annotations

import math
from collections import defaultdict


class Counters:
    """Request counts in fixed-width bins over [0, duration)."""

    def __init__(self, duration: float, bin_width: float) -> None:
        self.bin_width = bin_width
        self.bins = max(1, math.ceil(duration / bin_width - 1e-9))
        self.duration = duration
        self._series: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * self.bins)

    def _index(self, t: float) -> int:
        return min(self.bins - 1, max(0, int(t // self.bin_width)))

    def add(self, endpoint: str, outcome: str, t: float, n: int = 1) -> None:
        if 0 <= t < self.duration:
            self._series[endpoint, outcome][self._index(t)] += n

    def add_series(self, endpoint: str, outcome: str, first: float, step: float, n: int) -> None:
        """Count `n` requests at first, first+step, ... (those before `duration`)."""
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


class Gauge:
    """A level over time (e.g. blocked instances), kept as its integral per bin."""

    def __init__(self, duration: float, bin_width: float) -> None:
        self.bin_width = bin_width
        self.bins = max(1, math.ceil(duration / bin_width - 1e-9))
        self.duration = duration
        self.level = 0
        self.peak = 0
        self._since = 0.0
        self.area = [0.0] * self.bins

    def change(self, t: float, delta: int) -> None:
        t = min(max(t, 0.0), self.duration)
        self._accumulate(t)
        self.level += delta
        self.peak = max(self.peak, self.level)

    def _accumulate(self, until: float) -> None:
        t = self._since
        while t < until and self.level:
            index = min(self.bins - 1, int(t // self.bin_width))
            end = min(until, (index + 1) * self.bin_width)
            self.area[index] += self.level * (end - t)
            t = end
        self._since = max(self._since, until)

    def close(self) -> float:
        """Integrate to the end of the run; return the total level-seconds."""
        self._accumulate(self.duration)
        return sum(self.area)

    def mean_per_bin(self) -> list[float]:
        return [a / self.bin_width for a in self.area]


class Tally:
    """A count of happenings (re-authentications, expired-token calls), total and per bin."""

    def __init__(self, duration: float, bin_width: float) -> None:
        self.bin_width = bin_width
        self.duration = duration
        self.per_bin = [0] * max(1, math.ceil(duration / bin_width - 1e-9))
        self.total = 0

    def add(self, t: float, n: int = 1) -> None:
        if 0 <= t < self.duration:
            self.per_bin[min(len(self.per_bin) - 1, int(t // self.bin_width))] += n
            self.total += n
