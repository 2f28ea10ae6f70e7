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
from typing import Any, TypeVar

ENDPOINTS = ("register", "token", "api")
COHORT_KEYS = ("register", "token", "api", "reauthentications", "expired_token_calls")

K = TypeVar("K", str, tuple[str, str])


def registered(codes: dict[K, int], names: list[K], name: K) -> int:
    """The small integer of `name` in `codes`, the next one (appended to `names`) if new."""
    code = codes.get(name)
    if code is None:
        code = codes[name] = len(names)
        names.append(name)
    return code


def bin_count(duration: float, width: float) -> int:
    return max(1, math.ceil(duration / width - 1e-9))


class Counters:
    """Request counts in fixed-width bins over [0, duration).

    `add` and `add_series` only append to flat arrays (an outcome code, the time, the
    count; a burst's first time, step and size); `settle` bins them all at once with numpy
    the first time counts are read, with the very arithmetic the bin-by-bin walk used
    (floor division, the same float steps), so every count lands in the same bin.
    """

    def __init__(self, duration: float, bin_width: float) -> None:
        self.bin_width = bin_width
        self.bins = bin_count(duration, bin_width)
        self.duration = duration
        self._rows: dict[tuple[str, str], list[int]] = {}
        self._keys: list[tuple[str, str]] = []
        self.codes: dict[tuple[str, str], int] = {}
        """(endpoint, outcome) → the small integer its raw records carry."""
        self._fresh()

    def _fresh(self) -> None:
        """Empty raw records (new arrays: numpy views may still hold the old ones)."""
        self.one_code = array("H")
        self.one_t = array("d")
        self.one_n = array("q")
        self.run_code = array("H")
        self.run_first = array("d")
        self.run_step = array("d")
        self.run_n = array("q")

    def code(self, endpoint: str, outcome: str) -> int:
        """The small integer of (endpoint, outcome) in the raw records."""
        return registered(self.codes, self._keys, (endpoint, outcome))

    def add(self, endpoint: str, outcome: str, t: float, n: int = 1) -> None:
        if 0 <= t < self.duration:
            self.one_code.append(self.code(endpoint, outcome))
            self.one_t.append(t)
            self.one_n.append(n)

    def add_times(self, code: int, times: Sequence[float]) -> None:
        """One request of `code` (from `code()`) at each of `times`, all inside
        [0, duration): a batch of `add`s for a recorder that checked the times itself."""
        k = len(times)
        self.one_code.extend(array("H", [code]) * k)
        self.one_t.extend(times)
        self.one_n.extend(array("q", [1]) * k)

    def add_runs(self, code: int, firsts: Sequence[float], step: float, ns: Sequence[int]) -> None:
        """`add_series(…, first, step, n)` of `code` for each first and n (each n > 0, each
        first inside [0, duration))."""
        k = len(firsts)
        self.run_code.extend(array("H", [code]) * k)
        self.run_first.extend(firsts)
        self.run_step.extend(array("d", [step]) * k)
        self.run_n.extend(ns)

    def add_series(self, endpoint: str, outcome: str, first: float, step: float, n: int) -> None:
        """Count `n` requests at first, first+step, ... (those inside [0, duration))."""
        if n <= 0:
            return
        if first >= self.duration:  # nothing to count, but the row exists (as it always did)
            self.settle()
            self._row((endpoint, outcome))
            return
        self.run_code.append(self.code(endpoint, outcome))
        self.run_first.append(first)
        self.run_step.append(step)
        self.run_n.append(n)

    @property
    def _series(self) -> dict[tuple[str, str], list[int]]:
        self.settle()
        return self._rows

    def _row(self, key: tuple[str, str]) -> list[int]:
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = [0] * self.bins
        return row

    def settle(self) -> None:
        """Bin the raw records into the per-bin rows (idempotent; cheap when nothing is new)."""
        if not (self.one_t or self.run_first):
            return
        import numpy as np

        bins, width = self.bins, self.bin_width
        total = np.zeros(len(self._keys) * bins, dtype=np.int64)
        if self.one_t:
            t = np.frombuffer(self.one_t, dtype=np.float64)
            index = np.minimum(bins - 1, np.floor_divide(t, width).astype(np.int64))
            code = np.frombuffer(self.one_code, dtype=np.uint16).astype(np.int64)
            np.add.at(total, code * bins + index, np.frombuffer(self.one_n, dtype=np.int64))
        if self.run_first:
            self._settle_runs(total)
        seen = np.unique(
            np.concatenate([np.frombuffer(self.one_code, dtype=np.uint16),
                            np.frombuffer(self.run_code, dtype=np.uint16)])
        )  # fmt: skip
        for code in seen.tolist():
            part = total[code * bins : (code + 1) * bins]
            row = self._row(self._keys[code])
            for at in np.flatnonzero(part).tolist():
                row[at] += int(part[at])
        self._fresh()

    def _settle_runs(self, total: Any) -> None:
        """The bursts, all at once: each round takes every unfinished burst from its current
        call to the end of that call's bin — the walk `add_series` made burst by burst."""
        import numpy as np

        bins, width, duration = self.bins, self.bin_width, self.duration
        first: Any = np.frombuffer(self.run_first, dtype=np.float64)
        step: Any = np.frombuffer(self.run_step, dtype=np.float64)
        n: Any = np.frombuffer(self.run_n, dtype=np.int64)
        base: Any = np.frombuffer(self.run_code, dtype=np.uint16).astype(np.int64) * bins
        k: Any = np.zeros(len(first), dtype=np.int64)
        while len(first):
            t = first + k * step
            live = t < duration
            if not live.all():
                first, step, n, base, k, t = (
                    first[live],
                    step[live],
                    n[live],
                    base[live],
                    k[live],
                    t[live],
                )
                if not len(first):
                    break
            index = np.floor_divide(t, width).astype(np.int64)
            bin_end = (index + 1) * width
            in_bin = np.minimum(n - k, np.ceil((bin_end - t) / step - 1e-12).astype(np.int64))
            inside = t >= 0
            np.add.at(total, base[inside] + np.minimum(index[inside], bins - 1), in_bin[inside])
            k = k + np.maximum(1, in_bin)
            more = k < n
            if not more.all():
                first, step, n, base, k = first[more], step[more], n[more], base[more], k[more]

    def add_row(self, endpoint: str, outcome: str, row: Sequence[int]) -> None:
        self.settle()
        acc = self._row((endpoint, outcome))
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


# ---------------------------------------------------------------------- service figures

GROWTH = 1.01
"""Width of one latency bucket: each is 1 % wider than the one below, so a percentile read
from the buckets (their geometric middle) is within 0.5 % of the exact order statistic."""
FLOOR = 1e-6
"""Latencies below 1 µs (a request that never waited) fall in bucket -1, read as 0."""
_SCALE = 1.0 / math.log(GROWTH)
NS = 1_000_000_000
_PAIR = 1 << 20
"""(bin, bucket + 1) packed in one integer while binning (buckets stay far below 2**20)."""
MEASURES = ("wait", "response")
"""wait: arrival to start of service; response: send to answer, as the client saw it."""


def bucket_of(seconds: float) -> int:
    """The log-spaced bucket of a latency (-1 for anything under `FLOOR`)."""
    if seconds < FLOOR:
        return -1
    return int(math.log(seconds / FLOOR) * _SCALE)


def buckets_of(seconds: Any) -> Any:
    """`bucket_of` of a numpy array, equal element by element: numpy's log may differ from
    the C library's in the last bit, so values within a hair of a bucket edge are redone
    with `math.log`."""
    import numpy as np

    low = seconds < FLOOR
    scaled = np.log(np.where(low, FLOOR, seconds) / FLOOR) * _SCALE
    buckets = scaled.astype(np.int64)
    near = np.flatnonzero(~low & (np.abs(scaled - np.rint(scaled)) < 1e-6))
    for i in near.tolist():
        buckets[i] = bucket_of(float(seconds[i]))
    buckets[low] = -1
    return buckets


def bucket_value(index: int) -> float:
    """The latency a bucket stands for: its geometric middle (0 for bucket -1)."""
    if index < 0:
        return 0.0
    return float(FLOOR * GROWTH ** (index + 0.5))


def quantile_of(histogram: dict[int, int], q: float) -> float:
    """The q-quantile (the ceil(q·n)-th smallest) of the latencies a histogram holds."""
    total = sum(histogram.values())
    if total == 0:
        return 0.0
    rank = max(1, math.ceil(q * total - 1e-9))
    seen = 0
    for index in sorted(histogram):
        seen += histogram[index]
        if seen >= rank:
            return bucket_value(index)
    return bucket_value(max(histogram))  # pragma: no cover - rank <= total


def merge_histograms(histograms: Iterable[dict[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = defaultdict(int)
    for histogram in histograms:
        for index, n in histogram.items():
            merged[index] += n
    return dict(merged)


def _pairs(histogram: dict[int, int]) -> list[list[int]]:
    return [[k, n] for k, n in sorted(histogram.items())]


class Service:
    """What the DCR workers did: each request's queue wait and response time as log-spaced
    histograms per endpoint and time bin, their exact sums (integer nanoseconds) and
    maxima, and the workers' busy time per bin.

    Integers and maxima only, so instances may report in any order and the recorders of
    several processes merge exactly (`to_json` / `merge`). Requests are binned by the time
    they were sent, like the request counts; busy time is split at bin boundaries.
    """

    def __init__(self, duration: float, bin_width: float) -> None:
        self.duration = duration
        self.bin_width = bin_width
        self.bins = bin_count(duration, bin_width)
        self._hist: dict[tuple[str, str, int], dict[int, int]] = {}
        self._sum_ns: dict[tuple[str, str, int], int] = defaultdict(int)
        self._max: dict[tuple[str, str, int], float] = {}
        self._busy_ns = [0] * self.bins
        self.workers = 0
        # raw records, binned by `settle` when the figures are first read
        self._endpoints: list[str] = []
        self._codes: dict[str, int] = {}
        self._sent_code = array("H")
        self._sent = array("d")
        self._wait = array("d")
        self._response = array("d")
        self._busy_start = array("d")
        self._busy_end = array("d")

    def _add(self, key: tuple[str, str, int], seconds: float) -> None:
        histogram = self._hist.get(key)
        if histogram is None:
            histogram = self._hist[key] = {}
        index = bucket_of(seconds)
        histogram[index] = histogram.get(index, 0) + 1
        self._sum_ns[key] += round(seconds * NS)
        if seconds > self._max.get(key, -1.0):
            self._max[key] = seconds

    def code(self, endpoint: str) -> int:
        """The small integer of `endpoint` in the raw records (registered on first use)."""
        return registered(self._codes, self._endpoints, endpoint)

    def served_times(
        self, code: int, sent: Sequence[float], wait: float, responses: Sequence[float]
    ) -> None:
        """`served` of `code` (from `code()`) for each sent time, all inside [0, duration),
        and its response, each with the same wait."""
        k = len(sent)
        self._sent_code.extend(array("H", [code]) * k)
        self._sent.extend(sent)
        self._wait.extend(array("d", [wait]) * k)
        self._response.extend(responses)

    def busy_spans(self, starts: Sequence[float], ends: Sequence[float]) -> None:
        """`busy(start, end)` for each pair."""
        self._busy_start.extend(starts)
        self._busy_end.extend(ends)

    def served(self, endpoint: str, sent: float, wait: float, response: float) -> None:
        """One request of `endpoint` sent at `sent` waited `wait` s and was answered in
        `response` s."""
        if 0 <= sent < self.duration:
            code = self._codes.get(endpoint)
            if code is None:
                code = self.code(endpoint)
            self._sent_code.append(code)
            self._sent.append(sent)
            self._wait.append(wait)
            self._response.append(response)

    def busy(self, start: float, end: float) -> None:
        """A worker was busy over [start, end)."""
        self._busy_start.append(start)
        self._busy_end.append(end)

    @property
    def hist(self) -> dict[tuple[str, str, int], dict[int, int]]:
        self.settle()
        return self._hist

    @property
    def sum_ns(self) -> dict[tuple[str, str, int], int]:
        self.settle()
        return self._sum_ns

    @property
    def max(self) -> dict[tuple[str, str, int], float]:
        self.settle()
        return self._max

    @property
    def busy_ns(self) -> list[int]:
        self.settle()
        return self._busy_ns

    def settle(self) -> None:
        """Fold the raw records into the histograms, sums, maxima and busy time, in the
        arithmetic the per-request recording used (idempotent)."""
        if self._sent:
            self._settle_served()
        if self._busy_start:
            self._settle_busy()

    def _settle_served(self) -> None:
        import numpy as np

        sent = np.frombuffer(self._sent, dtype=np.float64)
        index = np.minimum(self.bins - 1, np.floor_divide(sent, self.bin_width).astype(np.int64))
        codes = np.frombuffer(self._sent_code, dtype=np.uint16)
        for measure, raw in (("wait", self._wait), ("response", self._response)):
            seconds = np.frombuffer(raw, dtype=np.float64)
            buckets = buckets_of(seconds)
            ns = np.rint(seconds * NS).astype(np.int64)
            for code, endpoint in enumerate(self._endpoints):
                mine = codes == code
                if not mine.any():
                    continue
                m_index, m_ns, m_seconds = index[mine], ns[mine], seconds[mine]
                pairs, counts = np.unique(m_index * _PAIR + buckets[mine] + 1, return_counts=True)
                for pair, n in zip(pairs.tolist(), counts.tolist(), strict=True):
                    key = (endpoint, measure, pair // _PAIR)
                    histogram = self._hist.get(key)
                    if histogram is None:
                        histogram = self._hist[key] = {}
                    bucket = pair % _PAIR - 1
                    histogram[bucket] = histogram.get(bucket, 0) + n
                bins_seen = np.unique(m_index)
                total = np.zeros(self.bins, dtype=np.int64)
                np.add.at(total, m_index, m_ns)
                top = np.full(self.bins, -1.0)
                np.maximum.at(top, m_index, m_seconds)
                for b in bins_seen.tolist():
                    key = (endpoint, measure, b)
                    self._sum_ns[key] += int(total[b])
                    if top[b] > self._max.get(key, -1.0):
                        self._max[key] = float(top[b])
        self._sent_code, self._sent = array("H"), array("d")
        self._wait, self._response = array("d"), array("d")

    def _settle_busy(self) -> None:
        """Busy time split at bin boundaries, piece by piece as `busy` used to walk it."""
        import numpy as np

        width, bins = self.bin_width, self.bins
        t = np.maximum(0.0, np.frombuffer(self._busy_start, dtype=np.float64))
        end = np.minimum(np.frombuffer(self._busy_end, dtype=np.float64), self.duration)
        total = np.zeros(bins, dtype=np.int64)
        while len(t):
            live = t < end
            if not live.all():
                t, end = t[live], end[live]
                if not len(t):
                    break
            index = np.minimum(bins - 1, np.floor_divide(t, width).astype(np.int64))
            stop = np.where(index == bins - 1, end, np.minimum(end, (index + 1) * width))
            np.add.at(total, index, np.rint((stop - t) * NS).astype(np.int64))
            t = stop
        for at in np.flatnonzero(total).tolist():
            self._busy_ns[at] += int(total[at])
        self._busy_start, self._busy_end = array("d"), array("d")

    # -------------------------------------------------------------- figures

    def histogram(self, endpoint: str, measure: str, bins: Iterable[int] | None = None
                  ) -> dict[int, int]:  # fmt: skip
        """The histogram of one endpoint's measure over `bins` (default: the whole run)."""
        wanted = None if bins is None else set(bins)
        return merge_histograms(
            h for (e, m, b), h in self.hist.items()
            if e == endpoint and m == measure and (wanted is None or b in wanted)
        )  # fmt: skip

    def figures(self, endpoint: str, measure: str, bins: Iterable[int] | None = None
                ) -> dict[str, float] | None:  # fmt: skip
        """count, mean, p50, p95, p99 and max (seconds) over `bins`; None if nothing was served."""
        if bins is None:
            keys = [k for k in self.hist if k[0] == endpoint and k[1] == measure]
        else:
            keys = [k for b in sorted(set(bins)) if (k := (endpoint, measure, b)) in self.hist]
        histogram = merge_histograms(self.hist[k] for k in keys)
        count = sum(histogram.values())
        if not count:
            return None
        return {
            "count": count,
            "mean": sum(self.sum_ns[k] for k in keys) / NS / count,
            "p50": quantile_of(histogram, 0.50),
            "p95": quantile_of(histogram, 0.95),
            "p99": quantile_of(histogram, 0.99),
            "max": max(self.max[k] for k in keys),
        }

    def utilisation(self) -> list[float]:
        """Share of the workers' time spent serving, per bin."""
        capacity = max(1, self.workers) * self.bin_width
        return [busy / NS / capacity for busy in self.busy_ns]

    def mean_queue(self) -> list[float]:
        """Mean number of requests waiting for a worker, per bin: the waits of the requests
        sent in the bin over its width (Little's law)."""
        total = [0] * self.bins
        for (_, measure, index), ns in self.sum_ns.items():
            if measure == "wait":
                total[index] += ns
        return [ns / NS / self.bin_width for ns in total]

    # -------------------------------------------------------------- merging

    def to_json(self) -> dict[str, Any]:
        return {
            "workers": self.workers,
            "busy_ns": list(self.busy_ns),
            "latency": [
                [e, m, b, self.sum_ns[e, m, b], self.max[e, m, b], _pairs(h)]
                for (e, m, b), h in sorted(self.hist.items())
            ],
        }

    def merge(self, data: dict[str, Any]) -> None:
        self.workers = max(self.workers, int(data.get("workers", 0)))
        for index, ns in enumerate(data.get("busy_ns", [])[: self.bins]):
            self.busy_ns[index] += int(ns)
        for endpoint, measure, index, total, top, items in data.get("latency", []):
            key = (endpoint, measure, int(index))
            histogram = self.hist.setdefault(key, {})
            for bucket, n in items:
                histogram[int(bucket)] = histogram.get(int(bucket), 0) + int(n)
            self.sum_ns[key] += int(total)
            self.max[key] = max(self.max.get(key, -1.0), float(top))


def cohort_key(cohort: int) -> str:
    """`PerSecond`'s row of one cohort's DCR requests (register and token together)."""
    return f"dcr@{cohort}"


class PerSecond:
    """DCR requests per second of scenario time, sparse: the one-second peak rate exactly.

    Rows are keyed by endpoint, plus one per cohort (`cohort_key`), so that a retry policy's
    own one-second peak can be told apart from the fleet's."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self._counts: dict[str, dict[int, int]] = {}
        self._endpoints: list[str] = []
        self._codes: dict[str, int] = {}
        self._code = array("H")
        self._t = array("d")

    def code(self, endpoint: str) -> int:
        """The small integer of `endpoint`'s row in the raw records (registered on first use)."""
        return registered(self._codes, self._endpoints, endpoint)

    def add_times(self, code: int, times: Sequence[float]) -> None:
        """`add` of the row `code` (from `code()`) at each of `times`."""
        self._code.extend(array("H", [code]) * len(times))
        self._t.extend(times)

    def add(self, endpoint: str, t: float) -> None:
        code = self._codes.get(endpoint)
        if code is None:
            code = self.code(endpoint)
        self._code.append(code)
        self._t.append(t)

    @property
    def counts(self) -> dict[str, dict[int, int]]:
        """endpoint → {second: requests}, with every raw record folded in."""
        if self._t:
            import numpy as np

            seconds = np.frombuffer(self._t, dtype=np.float64).astype(np.int64)  # int(t)
            codes = np.frombuffer(self._code, dtype=np.uint16)
            for code, endpoint in enumerate(self._endpoints):
                mine = seconds[codes == code]
                if not len(mine):
                    continue
                row = self._counts.setdefault(endpoint, {})
                values, n = np.unique(mine, return_counts=True)
                for second, count in zip(values.tolist(), n.tolist(), strict=True):
                    row[second] = row.get(second, 0) + count
            self._code, self._t = array("H"), array("d")
        return self._counts

    def peak(self, endpoint: str, start: float = 0.0, end: float = math.inf) -> int:
        """Most requests of `endpoint` in one second within [start, end)."""
        row = self.counts.get(endpoint, {})
        return max((n for s, n in row.items() if start <= s < end), default=0)

    def total_peak(self, endpoints: Sequence[str], start: float = 0.0,
                   end: float = math.inf) -> int:  # fmt: skip
        """Most requests of all `endpoints` together in one second within [start, end)."""
        together: dict[int, int] = defaultdict(int)
        for endpoint in endpoints:
            for s, n in self.counts.get(endpoint, {}).items():
                if start <= s < end:
                    together[s] += n
        return max(together.values(), default=0)

    def to_json(self) -> dict[str, list[list[int]]]:
        return {e: sorted([s, n] for s, n in row.items()) for e, row in sorted(self.counts.items())}

    def merge(self, data: dict[str, list[list[int]]]) -> None:
        for endpoint, pairs in data.items():
            row = self.counts.setdefault(endpoint, {})
            for second, n in pairs:
                row[int(second)] = row.get(int(second), 0) + int(n)


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
    cohort_rows: list[str] = field(init=False, repr=False)
    service: Service = field(init=False)
    per_second: PerSecond = field(init=False)

    def __post_init__(self) -> None:
        self.service = Service(self.duration, self.bin_width)
        self.per_second = PerSecond(self.duration)
        self.counters = Counters(self.duration, self.bin_width)
        self.reauthentications = Tally(self.duration, self.bin_width)
        self.expired_calls = Tally(self.duration, self.bin_width)
        self.blocked = Blocked(self.duration, self.bin_width)
        self.by_cohort = [dict.fromkeys((*COHORT_KEYS, "instances", "failed_api_calls"), 0)
                          for _ in range(self.cohorts)]  # fmt: skip
        self.cohort_rows = [cohort_key(index) for index in range(self.cohorts)]

    # ------------------------------------------------------------------ what agents report

    def request(self, endpoint: str, outcome: str, t: float, cohort: int) -> None:
        if 0 <= t < self.duration:
            counters = self.counters
            code = counters.codes.get((endpoint, outcome))
            if code is None:
                code = counters.code(endpoint, outcome)
            counters.one_code.append(code)
            counters.one_t.append(t)
            counters.one_n.append(1)
            self.by_cohort[cohort][endpoint] += 1
            if endpoint != "api":
                self.per_second.add(endpoint, t)
                self.per_second.add(self.cohort_rows[cohort], t)

    def settle(self) -> None:
        """Bin every raw record now (reading any count does it too)."""
        self.counters.settle()
        self.service.settle()
        _ = self.per_second.counts

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
            "service": self.service.to_json(),
            "per_second": self.per_second.to_json(),
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
        self.service.merge(data.get("service", {}))
        self.per_second.merge(data.get("per_second", {}))


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
