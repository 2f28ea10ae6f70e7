"""Latency, utilisation and one-second peaks from the model, against queueing theory.

A Poisson-like fleet (thousands of mobile instances, one token request per short session,
a flat day) feeds the DCR workers; the recorded queue waits must agree with the M/M/c
formulas computed here (Erlang C), the utilisation with λ·E[S]/c, and the recorders must
merge exactly.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from dcrload.model.counts import RunCounts, bucket_of, bucket_value, quantile_of
from dcrload.model.scenario import Scenario, validate
from dcrload.results.summary import summary_of
from sim.fleet import simulate

pytestmark = pytest.mark.xdist_group("latency")  # module fixtures: once

RATE = 50.0  # token requests per second
WORKERS = 2
MEAN_SERVICE = 0.02  # seconds: μ = 50/s, so ρ = λ/(cμ) = 0.5
DURATION = 300.0
SEEDS = (5, 6)


def erlang_c(c: int, offered: float) -> float:
    """P(an arrival waits) in M/M/c with offered load a = λ/μ < c."""
    below = sum(offered**k / math.factorial(k) for k in range(c))
    top = offered**c / math.factorial(c) * c / (c - offered)
    return top / (below + top)


def poisson_fleet(rate: float, workers: int, mean_service: float, duration: float, seed: int,
                  instances: int = 3000) -> Scenario:  # fmt: skip
    """Each instance opens 1-ms sessions as a Poisson process (flat day) and, with
    `no_token_cache`, asks for a token at each: the superposition is Poisson at `rate`."""
    return validate(
        {
            "scenario": {"name": "mmc", "duration": duration, "bin": "100s", "seed": seed},
            "fleet": {"instances": instances},
            "cohorts": [{"share": 1.0, "platform": "mobile", "antipattern": "no_token_cache"}],
            "usage": {
                "sessions_per_day": rate * 86400 / instances,
                "session_length": {"dist": "fixed", "value": "1ms"},
                "api_interval": "1h",
                "diurnal": [1] * 24,
            },
            "token": {"ttl": "6h"},
            "server": {
                "workers": workers,
                "service_time": {"dist": "exponential", "mean": mean_service},
            },
        },
        "test",
        budget=False,
    )


@pytest.fixture(scope="module")
def pooled() -> RunCounts:
    """Two seeds' counts merged (about 30,000 token requests)."""
    total = RunCounts(DURATION, 100.0, 1)
    for seed in SEEDS:
        scenario = poisson_fleet(RATE, WORKERS, MEAN_SERVICE, DURATION, seed)
        result = simulate(scenario, engine="event")
        total.merge(result.counts.to_json())
    return total


def test_mean_wait_agrees_with_erlang_c(pooled: RunCounts) -> None:
    """Mean wait within 15 % of C(c, a)/(cμ - λ) (seed-to-seed spread at this sample: ~8 %),
    P(wait > 0) within 5 % of C(c, a), p99 wait within 12 % of ln(C/0.01)/(cμ - λ)."""
    mu = 1.0 / MEAN_SERVICE
    waiting = erlang_c(WORKERS, RATE / mu)
    drain = WORKERS * mu - RATE
    figures = pooled.service.figures("token", "wait")
    assert figures is not None and figures["count"] == pytest.approx(RATE * DURATION * 2, rel=0.03)
    assert figures["mean"] == pytest.approx(waiting / drain, rel=0.15)
    histogram = pooled.service.histogram("token", "wait")
    waited = 1 - histogram.get(-1, 0) / figures["count"]
    assert waited == pytest.approx(waiting, rel=0.05)
    assert figures["p99"] == pytest.approx(math.log(waiting / 0.01) / drain, rel=0.12)


def test_response_time_is_rtt_plus_wait_plus_service(pooled: RunCounts) -> None:
    wait = pooled.service.figures("token", "wait")
    response = pooled.service.figures("token", "response")
    assert wait is not None and response is not None
    assert response["mean"] == pytest.approx(0.02 + wait["mean"] + MEAN_SERVICE, rel=0.03)
    assert response["p50"] > 0.02 and response["max"] >= wait["max"]


def test_utilisation_is_offered_load_per_worker(pooled: RunCounts) -> None:
    """Busy time per bin over c·width ≈ λ·E[S]/c = 0.5; mean queue = λ·W (Little)."""
    pooled.service.workers = WORKERS
    utilisation = pooled.service.utilisation()
    # two seeds were merged: the busy time of both runs over one run's worker-seconds
    assert sum(utilisation) / len(utilisation) / 2 == pytest.approx(0.5, rel=0.03)
    wait = pooled.service.figures("token", "wait")
    assert wait is not None
    queue = sum(pooled.service.mean_queue()) / len(utilisation) / 2
    assert queue == pytest.approx(RATE * wait["mean"], rel=0.03)


def test_recorders_merge_exactly() -> None:
    result = simulate(poisson_fleet(20.0, 1, 0.02, 60.0, 2, instances=500), engine="event")
    data = result.counts.to_json()
    halves = RunCounts(60.0, 100.0, 1), RunCounts(60.0, 100.0, 1)
    for half in halves:
        half.merge(data)
    doubled = RunCounts(60.0, 100.0, 1)
    doubled.merge(halves[0].to_json())
    doubled.merge(halves[1].to_json())
    twice = doubled.to_json()
    for (e, m, b, total, top, items), again in zip(
        data["service"]["latency"], twice["service"]["latency"], strict=True
    ):
        assert again == [e, m, b, 2 * total, top, [[k, 2 * n] for k, n in items]]
    assert twice["service"]["busy_ns"] == [2 * ns for ns in data["service"]["busy_ns"]]
    assert twice["per_second"]["token"] == [[s, 2 * n] for s, n in data["per_second"]["token"]]


def test_bucket_percentiles_are_within_half_a_percent_of_the_exact_ones() -> None:
    rng = random.Random(4)
    values = [rng.lognormvariate(-3.0, 1.2) for _ in range(20_001)]
    histogram: dict[int, int] = {}
    for value in values:
        histogram[bucket_of(value)] = histogram.get(bucket_of(value), 0) + 1
    ordered = sorted(values)
    for q in (0.5, 0.95, 0.99, 1.0):
        exact = ordered[max(1, math.ceil(q * len(values))) - 1]
        assert quantile_of(histogram, q) == pytest.approx(exact, rel=0.005)
    assert bucket_of(0.0) == -1 and bucket_value(-1) == 0.0


def test_one_second_peak_of_a_cold_start_in_one_second() -> None:
    """200 always-on instances launched within 0.5 s register in one second: the 1-s peak is
    200, while the 5-minute figure averages it away to 200/300."""
    summary: dict[str, Any] = summary_of(
        simulate(
            validate(
                {
                    "scenario": {"name": "burst", "duration": "1h", "bin": "5m", "seed": 1},
                    "fleet": {"instances": 200, "start": "cold", "launch_spread": "0.5s"},
                    "cohorts": [{"share": 1.0, "platform": "server"}],
                },
                "test",
                budget=False,
            )
        )
    )
    register = summary["endpoints"]["register"]
    assert register["peak_rps_1s"] == 200.0
    assert register["peak_rps"] == pytest.approx(200 / 300)
    assert register["latency"]["served"] == 200
    assert summary["workers"]["workers"] == 64


def warm_always_on(spread: bool, jitter: float = 0.0) -> RunCounts:
    """1,000 warm always-on instances asking for a token with each 5-minute API call."""
    scenario = validate(
        {
            "scenario": {"name": "warm", "duration": "1h", "bin": "5m", "seed": 2},
            "fleet": {"instances": 1000, "warm_spread": spread},
            "cohorts": [{"share": 1.0, "platform": "server", "antipattern": "no_token_cache"}],
            "usage": {"api_interval": "5m", "api_jitter": jitter},
            "server": {"workers": 2000},
        },
        "test",
        budget=False,
    )
    return simulate(scenario).counts


def test_the_warm_always_on_start_is_spread_over_the_interval() -> None:
    """Spread: no second holds more than 2 % of an interval's 1,000 token requests (a
    uniform spread gives about 3 per second); aligned: one second holds them all."""
    spread = warm_always_on(True).per_second
    assert sum(spread.counts["token"].values()) == 12 * 1000
    assert spread.peak("token") <= 0.02 * 1000
    assert spread.peak("token", 0, 300) >= 1  # calls throughout the first interval...
    assert len([s for s in spread.counts["token"] if s < 300]) > 200  # ...most seconds
    assert warm_always_on(False).per_second.peak("token") == 1000


def test_jittered_api_intervals_drift_apart() -> None:
    """With ±20 % jitter the calls of an aligned start no longer meet in one second."""
    aligned = warm_always_on(False, jitter=0.2).per_second
    assert aligned.peak("token", 0, 1) == 1000
    assert aligned.peak("token", 600, 3600) < 0.1 * 1000


def test_the_report_has_latency_and_utilisation_panels(tmp_path: Any) -> None:
    from dcrload.results.summary import write_run

    result = simulate(poisson_fleet(20.0, 1, 0.02, 60.0, 3, instances=500), engine="event")
    summary = write_run(result, tmp_path)
    from dcrload.results.report import report_figure
    from dcrload.results.summary import report_inputs

    figure = report_figure(**report_inputs(result, summary, "t"))
    labels = [axis.get_ylabel() for axis in figure.axes]
    assert any(label.startswith("response time, ms") for label in labels)
    assert "utilisation, %" in labels
    rows = (tmp_path / "service.csv").read_text().splitlines()
    assert rows[0].startswith("bin_start_s,endpoint,measure,requests")
    assert any(",token,wait," in row for row in rows)
    assert any(",workers,utilisation," in row for row in rows)
