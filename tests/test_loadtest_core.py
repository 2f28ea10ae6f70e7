"""The load test's pure parts, without Locust and without sleeping.

The load shape's curve, the scaled scenario, the prediction with per-instance random
streams (common random numbers), the comparison, the thresholds and the fault timeline.
Locust itself is never imported here (it patches the standard library); the replay runs in
subprocesses in test_locust_replay.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dcrload.analysis.prediction import compare, relative_error, summary_lines
from dcrload.analysis.thresholds import check, error_rate, measured_values
from dcrload.core.streams import Stream, run_key, stream_seed
from dcrload.model.loadshape import (
    active_instances,
    loadtest_scenario,
    prediction_scenario,
    sample_factor,
    shape_schedule,
    users_at,
    warmup_seconds,
)
from dcrload.model.plans import FleetModel, fleet_plans, install_schedule
from dcrload.model.scenario import Thresholds, load_scenario
from loadtests.faults import fault_timeline, mock_settings
from loadtests.timescale import client_timeout, mock_ttl
from sim.fleet import simulate

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "scenarios" / "loadtest-small.toml"
REVOCATION = ROOT / "tests" / "scenarios" / "loadtest-revocation.toml"
DEFAULT = ROOT / "scenarios" / "default.toml"


# --------------------------------------------------------------------------- the shape


def test_loadtest_scenario_caps_instances_and_scales_installs_and_duration() -> None:
    scenario = load_scenario(DEFAULT)
    scaled = loadtest_scenario(scenario, 30.0)
    assert scaled.fleet.instances == 200
    assert sample_factor(scenario) == pytest.approx(0.01)
    assert scaled.fleet.installs.per_day == pytest.approx(4.0)
    assert scaled.scenario.duration == pytest.approx(30.0 * 240)
    with pytest.raises(ValueError):
        loadtest_scenario(scenario, 0)


def test_active_instances_follow_the_diurnal_curve_and_installs() -> None:
    scenario = load_scenario(DEFAULT)
    night = active_instances(scenario, 4 * 3600.0)
    evening = active_instances(scenario, 20 * 3600.0)
    assert 0 < night < evening
    # the evening weight is 2.5 / mean, the early-morning one 0.12 / mean
    assert evening / night == pytest.approx(2.5 / 0.12, rel=0.05)
    always_on = load_scenario(SMALL)
    assert active_instances(always_on, 0.0) == pytest.approx(40.0)


def test_users_follow_active_instances_with_a_floor_per_worker() -> None:
    scenario = load_scenario(SMALL, ["loadtest.instances_per_user=10"])
    assert users_at(scenario, 0.0) == 4
    assert users_at(scenario, 0.0, workers=3) == 6  # min_users = 2 per worker
    schedule = shape_schedule(load_scenario(DEFAULT), run_seconds=360.0, step=60.0)
    assert [t for t, _ in schedule] == [0, 60, 120, 180, 240, 300]
    assert all(users >= 2 for _, users in schedule)


def test_warmup_only_for_a_warm_fleet() -> None:
    assert warmup_seconds(load_scenario(SMALL)) == 0.0
    assert warmup_seconds(load_scenario(DEFAULT)) > 0.0


def test_prediction_models_whole_second_token_times() -> None:
    scaled = load_scenario(SMALL)  # ttl 2 min at 60x: tokens of 2 s, whole seconds
    predicted = prediction_scenario(scaled)
    assert predicted.token.ttl == 120.0
    assert predicted.token.ttl_jitter == pytest.approx(0.5)
    unscaled = load_scenario(SMALL, ["loadtest.time_scale=1"])
    assert prediction_scenario(unscaled) is unscaled


def test_time_compression_helpers() -> None:
    assert mock_ttl(21600, 240) == 90
    assert mock_ttl(10, 240) == 1
    assert client_timeout(10.0, 1.0) == 10.0
    assert client_timeout(10.0, 240.0) == 0.25


# --------------------------------------------------------------------------- common random numbers


def test_streams_are_deterministic_and_independent() -> None:
    key = run_key(7)
    a, b = Stream(stream_seed(key, 1, "usage")), Stream(stream_seed(key, 1, "usage"))
    c = Stream(stream_seed(key, 2, "usage"))
    draws = [a.random() for _ in range(5)]
    assert draws == [b.random() for _ in range(5)]
    assert draws != [c.random() for _ in range(5)]
    assert all(0.0 <= x < 1.0 for x in draws)
    values = [a.expovariate(2.0) for _ in range(4000)]
    assert sum(values) / len(values) == pytest.approx(0.5, rel=0.1)
    assert a.lognormvariate(0.0, 0.5) > 0 and isinstance(a.gauss(0.0, 1.0), float)
    assert 0 <= a.getrandbits(70) < 2**70


def test_plans_do_not_depend_on_which_instances_a_process_keeps() -> None:
    """Each worker draws the same fleet and keeps its share: the union is the whole fleet."""
    scenario = loadtest_scenario(load_scenario(DEFAULT), 30.0)

    model = FleetModel(scenario, 7)
    installs = install_schedule(model)
    total = scenario.fleet.instances + len(installs)

    def plans(keep: range | None = None) -> dict[int, tuple[float, int]]:
        return {p.index: (p.first_launch, p.cohort) for p in fleet_plans(model, installs, keep)}

    whole = plans()
    even = plans(range(0, total, 2))
    odd = plans(range(1, total, 2))
    assert set(even) | set(odd) == set(whole) and not set(even) & set(odd)
    assert {**even, **odd} == whole


def test_the_prediction_is_reproducible_and_matches_the_simulation_in_expectation() -> None:
    scenario = loadtest_scenario(load_scenario(SMALL), 8.0)
    first, second = simulate(scenario, seed=3), simulate(scenario, seed=3)
    assert first.counters.items() == second.counters.items()
    assert first.counters.total("register") == 40  # one registration per instance
    # always-on, launched at L ~ U(0, 60 s), a call at L and every 20 s after until 480 s:
    # 1 + floor((480 - L) / 20) calls, 23 on average
    assert first.counters.total("api") == pytest.approx(40 * 23, rel=0.05)


# --------------------------------------------------------------------------- comparison


def test_compare_passes_within_tolerance_and_fails_outside() -> None:
    predicted = [
        ("register", "201", [40, 0]),
        ("token", "201", [100, 100]),
        ("api", "200", [500, 500]),
    ]
    close = [("register", "201", [40, 0]), ("token", "201", [95, 100]), ("api", "200", [510, 520])]
    far = [("register", "201", [40, 0]), ("token", "201", [300, 300]), ("api", "200", [500, 500])]
    ok = compare(predicted, close, bins=2, bin_width=60.0, tolerance=0.1, slack=3)
    assert ok["passed"] and ok["endpoints"]["token"]["relative_error"] == 0.025
    assert ok["endpoints"]["api"]["largest_bin_error"]["bin_start_s"] == 60.0
    bad = compare(predicted, far, bins=2, bin_width=60.0, tolerance=0.1, slack=3)
    assert not bad["passed"] and not bad["endpoints"]["token"]["passed"]
    assert bad["endpoints"]["api"]["passed"]
    assert any("OUT OF TOLERANCE" in line for line in summary_lines(bad))
    json.dumps(bad)  # comparison.json is plain JSON


def test_slack_forgives_tiny_counts_only() -> None:
    tiny = compare(
        [("register", "201", [2])],
        [("register", "201", [4])],
        bins=1,
        bin_width=1.0,
        tolerance=0.1,
        slack=3,
    )
    assert tiny["endpoints"]["register"]["passed"]
    assert relative_error(0, 3) == 3.0 and relative_error(100, 90) == 0.1


# --------------------------------------------------------------------------- thresholds


def test_thresholds_list_what_was_breached() -> None:
    endpoints = {
        "register": {"requests": 10, "by_outcome": {"201": 9, "400": 1}},
        "token": {"requests": 100, "by_outcome": {"201": 100}},
        "api": {"requests": 200, "by_outcome": {"200": 190, "401": 10}},
    }
    values = measured_values(endpoints, {"expired_token_calls": 10}, {"token": 42.0})
    assert values["register_error_rate"] == pytest.approx(0.1)
    assert values["expired_token_share"] == pytest.approx(0.05)
    limits = Thresholds(token_p95_ms=50, register_error_rate=0.05, expired_token_share=0.0)
    breached = {b.name for b in check(limits, values)}
    assert breached == {"register_error_rate", "expired_token_share"}
    assert check(Thresholds(), values) == []
    assert error_rate({"timeout": 1, "200": 1}) == 0.5 and error_rate({}) == 0.0


def test_scenario_thresholds_are_validated() -> None:
    from dcrload.core.errors import UsageError

    with pytest.raises(UsageError, match="thresholds"):
        load_scenario(SMALL, ["loadtest.thresholds.token_p95=5"])
    with pytest.raises(UsageError, match="token_error_rate"):
        load_scenario(SMALL, ["loadtest.thresholds.token_error_rate=2"])


# --------------------------------------------------------------------------- faults


def test_fault_timeline_scales_outages_and_orders_calls() -> None:
    scenario = load_scenario(
        REVOCATION,
        ['faults.outages=[{start = "1m", duration = "2m", mode = "timeout"}]'],
    )
    steps = fault_timeline(scenario, 60.0)
    assert [(s.at, s.method, s.path) for s in steps] == [
        (60.0, "PUT", "/admin/outage"),
        (180.0, "POST", "/admin/revocations"),
    ]
    assert steps[0].body == {"mode": "hang", "duration": 2.0}
    assert steps[1].body == {"software_id": "drill-app"}


def test_mock_settings_scale_ttl_and_throttle_rate() -> None:
    calls = mock_settings(load_scenario(SMALL), 60.0, latency_ms=50.0)
    assert ("PUT", "/admin/ttl", {"ttl": 2, "jitter": 0.0}) in calls
    throttle = next(body for _, path, body in calls if path == "/admin/throttle")
    assert throttle["rate"] == 60.0 and throttle["burst"] == 10
    assert calls[-1] == ("PUT", "/admin/latency", {"distribution": "fixed", "ms": 50.0})


# --------------------------------------------------------------------------- purity


def test_core_modules_import_no_driver_library() -> None:
    code = (
        "import sys, json, dcrload.model.loadshape, dcrload.analysis.prediction\n"
        "import dcrload.analysis.thresholds\n"
        "print(json.dumps(sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('simpy', 'locust', 'gevent', 'httpx'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
