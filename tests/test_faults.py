"""Faults in the simulation: each knob's effect checked against an independent count."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dcrload.model.scenario import validate
from dcrload.results.summary import summary_of
from sim.fleet import simulate
from sim.server import SimServer

ALWAYS_ON = {"share": 1.0, "platform": "server", "refresh": "azure-identity", "retry": "none"}


def run(data: dict[str, Any]) -> dict[str, Any]:
    return summary_of(simulate(validate(data, "test")))


def scenario(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scenario": {"name": "t", "duration": "1d", "bin": "10m", "seed": 3},
        "fleet": {"instances": 300},
        "cohorts": [dict(ALWAYS_ON)],
        "usage": {"api_interval": "5m"},
        "token": {"ttl": "1h"},
    }
    base.update(sections)
    return base


def test_credential_loss_rate_gives_n_r_d_reregistrations_and_as_many_reauthentications():
    instances, rate, days = 500, 0.4, 1  # 200 losses expected, as from 1,000 at 0.1 over 2 d
    summary = run(
        scenario(
            scenario={"name": "loss", "duration": f"{days}d", "bin": "1h", "seed": 5},
            fleet={"instances": instances},
            faults={"credential_loss_per_day": rate},
        )
    )
    expected = instances * rate * days  # losses are Poisson: sd = sqrt(expected)
    registrations = summary["endpoints"]["register"]["by_outcome"]["201"]
    assert abs(registrations - expected) <= 4 * math.sqrt(expected)
    # each re-registration costs one re-login, after its new token: one that registers in
    # the run's last moments may still be fetching that token when the run ends
    assert registrations - 1 <= summary["impact"]["reauthentications"] <= registrations
    assert abs(summary["impact"]["credential_losses"] - registrations) <= 1


def revocation(final_share: float) -> dict[str, Any]:
    rollout = {
        "software_id": "app-v2",
        "released_at": "8h",
        "half_life": "4h",
        "width": "1h",
        "final_share": final_share,
    }
    return scenario(
        scenario={"name": "revocation", "duration": "2d", "bin": "10m", "seed": 2},
        fleet={"instances": 500},
        cohorts=[{**ALWAYS_ON, "software_id": "app-v1"}],
        usage={"api_interval": "1m"},
        faults={"revocations": [{"at": "6h", "software_id": "app-v1", "rollout": rollout}]},
    )


def api_successes_from(summary_bins: list[tuple[float, str, str, int]], start: float) -> int:
    return sum(n for t, e, o, n in summary_bins if e == "api" and o == "200" and t >= start)


def test_no_client_of_a_revoked_statement_gets_an_api_call_through():
    result = simulate(validate(revocation(final_share=1e-9), "test"))
    rows = [
        (i * 600.0, endpoint, outcome, count)
        for endpoint, outcome, per_bin in result.counters.items()
        for i, count in enumerate(per_bin)
    ]
    assert api_successes_from(rows, 0.0) > 0
    assert api_successes_from(rows, 6 * 3600.0) == 0
    summary = summary_of(result)
    assert summary["impact"]["blocked_instances_end"] == 500
    assert summary["impact"]["blocked_instance_seconds"] == pytest.approx(500 * 42 * 3600, rel=0.01)


def test_every_updated_instance_recovers_and_registers_once():
    summary = run(revocation(final_share=0.8))
    impact = summary["impact"]
    updated = impact["app_updates"]
    assert 0.7 * 500 < updated < 0.9 * 500
    assert impact["blocked_instances_end"] == 500 - updated
    assert impact["blocked_instances_peak"] > 0
    assert summary["endpoints"]["register"]["by_outcome"]["201"] == updated
    assert impact["reauthentications"] == updated


def drift(basis: str) -> dict[str, Any]:
    cohort = {**ALWAYS_ON, "refresh": {"kind": "fixed_lead", "lead": "5m"}, "expiry_basis": basis}
    return scenario(
        cohorts=[cohort],
        usage={"api_interval": "30s"},
        faults={"clock": {"offset": {"dist": "fixed", "value": "-10m"}}},
    )


def test_clock_behind_by_more_than_the_lead_hurts_the_exp_basis_only():
    exp_basis = run(drift("exp") | {"fleet": {"instances": 100}})
    monotonic = run(drift("expires_in") | {"fleet": {"instances": 100}})
    assert exp_basis["impact"]["expired_token_calls"] > 0
    assert monotonic["impact"]["expired_token_calls"] == 0
    assert (
        exp_basis["endpoints"]["api"]["by_outcome"].get("401", 0)
        >= (exp_basis["impact"]["expired_token_calls"])
    )


def test_clock_ahead_adds_token_load_with_the_exp_basis():
    ahead = scenario(
        fleet={"instances": 100},
        cohorts=[{**ALWAYS_ON, "expiry_basis": "exp"}],
        faults={"clock": {"offset": {"dist": "fixed", "value": "30m"}}},
    )
    right = scenario(fleet={"instances": 100}, cohorts=[{**ALWAYS_ON, "expiry_basis": "exp"}])
    assert (
        run(ahead)["endpoints"]["token"]["requests"]
        > 1.3 * (run(right)["endpoints"]["token"]["requests"])
    )


def test_throttle_admits_a_burst_of_ten_then_one_per_second():
    server = SimServer(validate(scenario(server={"throttle": {"enabled": True}}), "test"))
    burst = [server.admit("device-a", 100.0) for _ in range(20)]
    assert burst.count(True) == 10 and burst[:10] == [True] * 10
    assert server.admit("device-b", 100.0)  # another device has its own bucket
    assert not server.admit("device-a", 100.5)
    for second in range(1, 6):
        assert server.admit("device-a", 100.0 + second)
        assert not server.admit("device-a", 100.0 + second)


def test_a_proxy_without_forwarded_addresses_shares_one_bucket():
    proxy = {**ALWAYS_ON, "forward_device_address": False}
    quarter = {"name": "t", "duration": "6h", "bin": "10m", "seed": 3}  # 2,295 throttled
    throttle = {"throttle": {"enabled": True}}
    throttled = run(scenario(scenario=quarter, cohorts=[proxy], server=throttle))
    separate = run(scenario(scenario=quarter, cohorts=[ALWAYS_ON], server=throttle))
    assert separate["impact"]["throttled_requests"] == 0
    assert throttled["impact"]["throttled_requests"] > 1000


def outage(retry: dict[str, Any], ttl_jitter: float = 0.0, instances: int = 200) -> dict[str, Any]:
    return scenario(
        scenario={"name": "outage", "duration": "12h", "bin": "5m", "seed": 4},
        fleet={"instances": instances},
        cohorts=[{**ALWAYS_ON, "retry": retry}],
        token={"ttl": "1h", "ttl_jitter": ttl_jitter},
        faults={"outages": [{"start": "4h", "duration": "30m", "mode": "503"}]},
    )


def requests_between(result: Any, start: float, end: float) -> int:
    width = result.scenario.scenario.bin
    return sum(
        count
        for _, _, per_bin in result.counters.items()
        for i, count in enumerate(per_bin)
        if start <= i * width < end
    )


def test_immediate_retries_send_ten_times_the_requests_of_full_jitter_in_an_outage():
    naive = simulate(validate(outage({"kind": "immediate", "attempts": 200}, instances=50), "t"))
    backoff = {"kind": "full_jitter", "base": "1s", "cap": "5m"}
    jitter = simulate(validate(outage(backoff, instances=50), "t"))
    window = (4 * 3600.0, 4.5 * 3600.0)
    assert requests_between(naive, *window) >= 10 * requests_between(jitter, *window)


def test_recovery_time_is_reported_for_each_fault_window(tmp_path):
    from sim.recovery import recovery_report

    result = simulate(validate(outage({"kind": "full_jitter"}, ttl_jitter=0.5), "test"))
    report = recovery_report(result)
    assert [w["fault"].split(" at ")[0] for w in report] == ["outage 503"]
    assert report[0]["end_s"] == 4.5 * 3600
    assert report[0]["recovery_s"] is not None and report[0]["recovery_s"] >= 0


def test_reregistering_on_refresh_costs_a_registration_and_a_login_per_refresh():
    bad = {**ALWAYS_ON, "antipattern": "reregister_on_refresh"}
    summary = run(scenario(fleet={"instances": 100}, cohorts=[bad]))
    registrations = summary["endpoints"]["register"]["requests"]
    tokens = summary["endpoints"]["token"]["requests"]
    assert registrations == pytest.approx(tokens, rel=0.01)
    # a timer's re-registration fetches its token (and re-authenticates) at the next API
    # call: an instance whose last timer fires in the run's final interval has one unmatched
    assert summary["impact"]["reauthentications"] == pytest.approx(registrations, rel=0.01)


def test_a_correct_cohort_registers_once_per_install_and_per_loss():
    summary = run(
        scenario(
            scenario={"name": "correct", "duration": "1d", "bin": "1h", "seed": 8},
            fleet={"instances": 500, "installs": {"kind": "constant", "per_day": 100}},
            faults={"credential_loss_per_day": 0.02},
        )
    )
    registrations = summary["endpoints"]["register"]["by_outcome"]["201"]
    losses = summary["impact"]["credential_losses"]
    assert losses > 0 and summary["fleet"]["installs"] > 0
    assert abs(registrations - (summary["fleet"]["installs"] + losses)) <= 1


def test_no_token_cache_sends_a_token_request_per_api_call():
    summary = run(
        scenario(
            scenario={"name": "t", "duration": "6h", "bin": "10m", "seed": 3},
            fleet={"instances": 100},
            cohorts=[{**ALWAYS_ON, "antipattern": "no_token_cache"}],
        )
    )
    api = summary["endpoints"]["api"]["requests"]
    assert summary["endpoints"]["token"]["requests"] == pytest.approx(api, rel=0.01)


def test_server_side_ttl_jitter_spreads_a_synchronised_fleet():
    # 6 h: the jittered fleet's highest later bin comes before it has spread any further
    synced = scenario(
        scenario={"name": "t", "duration": "6h", "bin": "10m", "seed": 3},
        fleet={"instances": 200, "start": "cold", "launch_spread": "0s"},
    )
    jittered = {**synced, "token": {"ttl": "1h", "ttl_jitter": 0.2}}

    def later_peak(data: dict[str, Any]) -> int:
        per_bin = simulate(validate(data, "test")).counters.per_bin("token")
        return max(per_bin[12:])  # after the first two hours (10-minute bins)

    assert later_peak(synced) >= 180  # without jitter the herd refreshes in one bin
    assert later_peak(jittered) < 0.6 * later_peak(synced)


def test_a_series_of_requests_spends_the_bucket_like_one_request_at_a_time():
    from dcrload.core.throttle import TokenBucket

    for start_level, step, n in [(10.0, 1.0, 50), (3.0, 1.5, 7), (1.0, 4.0, 3), (10.0, 300.0, 5)]:
        one, series = TokenBucket(10, 0.0), TokenBucket(10, 0.0)
        one.level = series.level = start_level
        assert all(one.take(5.0 + k * step, 1.0, 10) for k in range(n))
        series.take_series(5.0, step, n, 1.0, 10)
        assert (series.level, series.since) == pytest.approx((one.level, one.since))
