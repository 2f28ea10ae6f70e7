"""Counting by raw records binned at the end (numpy) gives the counts of binning each request
as it came: the per-request walk is written out here as the reference."""

from __future__ import annotations

import math
import random
from collections import defaultdict

from dcrload.model.counts import (
    NS,
    Counters,
    PerSecond,
    RunCounts,
    Service,
    bucket_of,
    buckets_of,
)

DURATION, WIDTH = 86_400.0, 300.0
BINS = math.ceil(DURATION / WIDTH)


def walk_series(row: list[int], first: float, step: float, n: int) -> None:
    """The bin-by-bin walk `Counters.add_series` made before it recorded raw bursts."""
    k = 0
    while k < n:
        t = first + k * step
        if t >= DURATION:
            return
        index = int(t // WIDTH)
        in_bin = min(n - k, math.ceil(((index + 1) * WIDTH - t) / step - 1e-12))
        if t >= 0:
            row[min(index, BINS - 1)] += in_bin
        k += max(1, in_bin)


def awkward_times(rng: random.Random, count: int) -> list[float]:
    """Times on, a hair before and a hair after bin edges, and anywhere."""
    times = []
    for _ in range(count):
        edge = rng.randrange(BINS + 2) * WIDTH
        times.append(
            rng.choice([edge, math.nextafter(edge, -math.inf), math.nextafter(edge, math.inf),
                        rng.uniform(-10.0, DURATION + 10.0)])
        )  # fmt: skip
    return times


def test_bursts_and_single_requests_land_in_the_bins_of_the_walk() -> None:
    rng = random.Random(5)
    counters = Counters(DURATION, WIDTH)
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * BINS)
    for first in awkward_times(rng, 4000):
        step = rng.choice([300.0, 150.0, 299.9999, 300.0001, 7.0, 1000.0, rng.uniform(1, 900)])
        n = rng.choice([0, 1, 2, 5, 40, 400])
        outcome = rng.choice(["200", "401"])
        counters.add_series("api", outcome, first, step, n)
        if n > 0:
            walk_series(expected["api", outcome], first, step, n)
        if rng.random() < 0.01:  # a read in between settles what came so far
            assert counters.total("api") >= 0
    for t in awkward_times(rng, 4000):
        outcome = rng.choice(["201", "429", "timeout"])
        counters.add("token", outcome, t)
        if 0 <= t < DURATION:
            expected["token", outcome][min(BINS - 1, int(t // WIDTH))] += 1
    got = {(e, o): row for e, o, row in counters.items()}
    assert got == dict(expected)
    api = sum(sum(row) for (endpoint, _), row in expected.items() if endpoint == "api")
    assert sum(counters.per_bin("api")) == api


def test_latency_buckets_equal_math_log_element_by_element() -> None:
    import numpy as np

    rng = random.Random(9)
    values = [rng.expovariate(40.0) for _ in range(50_000)]
    values += [1e-6 * 1.01**k for k in range(2000)]  # on the bucket edges
    values += [math.nextafter(v, 0.0) for v in values[-2000:]] + [0.0, 1e-7, 1e-6]
    assert buckets_of(np.array(values)).tolist() == [bucket_of(v) for v in values]


def test_service_figures_equal_recording_each_request() -> None:
    rng = random.Random(3)
    service = Service(DURATION, WIDTH)
    hist: dict[tuple[str, str, int], dict[int, int]] = {}
    sums: dict[tuple[str, str, int], int] = defaultdict(int)
    tops: dict[tuple[str, str, int], float] = {}
    busy = [0] * BINS
    for sent in awkward_times(rng, 5000):
        endpoint = rng.choice(["register", "token"])
        wait = rng.choice([0.0, rng.expovariate(10.0)])
        response = wait + rng.expovariate(40.0)
        service.served(endpoint, sent, wait, response)
        if 0 <= sent < DURATION:
            index = min(BINS - 1, int(sent // WIDTH))
            for measure, seconds in (("wait", wait), ("response", response)):
                key = (endpoint, measure, index)
                bucket = bucket_of(seconds)
                hist.setdefault(key, {})[bucket] = hist.setdefault(key, {}).get(bucket, 0) + 1
                sums[key] += round(seconds * NS)
                tops[key] = max(tops.get(key, -1.0), seconds)
        start, end = sent, sent + rng.choice([0.025, 400.0, 700.0])
        service.busy(start, end)
        t, end = max(0.0, start), min(end, DURATION)
        while t < end:  # the walk `Service.busy` made before
            index = min(BINS - 1, int(t // WIDTH))
            stop = end if index == BINS - 1 else min(end, (index + 1) * WIDTH)
            busy[index] += round((stop - t) * NS)
            t = stop
        if rng.random() < 0.05:
            service.settle()
    assert service.hist == hist
    assert dict(service.sum_ns) == dict(sums)
    assert service.max == tops
    assert service.busy_ns == busy


def test_per_second_and_merge_add_up() -> None:
    rng = random.Random(1)
    one, two = RunCounts(DURATION, WIDTH, 1), RunCounts(DURATION, WIDTH, 1)
    seconds: dict[int, int] = defaultdict(int)
    for i, t in enumerate(awkward_times(rng, 3000)):
        (one if i % 2 else two).request("token", "201", t, 0)
        if 0 <= t < DURATION:
            seconds[int(t)] += 1
    one.merge(two.to_json())
    assert one.per_second.counts["token"] == dict(seconds)
    assert one.counters.total("token") == sum(seconds.values())
    per = PerSecond(DURATION)
    per.add("register", 3.5)
    per.add("register", 3.9)
    assert per.peak("register") == 2
