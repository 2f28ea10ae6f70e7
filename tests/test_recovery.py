"""Honest recovery figures: a sustained return to the baseline, the herd's echo per token
lifetime, and one-second peaks that tell backoff policies apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcrload.analysis.recovery import echo_after, recovery_after
from dcrload.model.scenario import load_scenario, validate
from sim.fleet import simulate
from sim.recovery import recovery_report

ROOT = Path(__file__).resolve().parent.parent
BIN, LIFETIME = 300.0, 3600.0  # 12 bins per token lifetime
END = 10 * BIN  # the fault window ends at bin 10


def echoed(extras: list[int], bins: int = 120) -> tuple[list[int], list[int]]:
    """A flat baseline of 100 requests per bin and a run that, k lifetimes after the fault,
    has `extras[k]` more requests in bin 5 of that lifetime."""
    baseline = [100] * bins
    load = list(baseline)
    first = int(END // BIN)
    for k, extra in enumerate(extras):
        load[first + 12 * k + 5] += extra
    return load, baseline


def test_a_known_echo_is_reported_per_lifetime_and_recovery_waits_for_it_to_die() -> None:
    """Extras of 300, 150, 75 over a smoothed baseline of 300 (3 bins) are deviations of
    1, 0.5 and 0.25; the load stays in tolerance only from bin 6 of the third lifetime."""
    load, baseline = echoed([300, 150, 75])
    assert echo_after(load, baseline, END, BIN, LIFETIME)[:4] == [1.0, 0.5, 0.25, 0.0]
    assert recovery_after(load, baseline, END, BIN, LIFETIME) == (2 * 12 + 6) * BIN
    # the old rule (three calm bins) called it recovered at once, between the echoes
    assert recovery_after(load, baseline, END, BIN, 0.0) == 0.0


def test_a_herd_that_swings_every_lifetime_to_the_end_never_recovers() -> None:
    load, baseline = echoed([200] * 9)
    assert recovery_after(load, baseline, END, BIN, LIFETIME) is None
    assert set(echo_after(load, baseline, END, BIN, LIFETIME)[:9]) == {round(200 / 300, 4)}


def test_same_seed_same_recovery_figures() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "outage-recovery.toml", ["fleet.instances=300"])
    first = recovery_report(simulate(scenario))
    again = recovery_report(simulate(scenario))
    assert first == again
    (entry,) = first
    lifetimes = (scenario.scenario.duration - entry["end_s"]) // scenario.token.ttl
    assert len(entry["echo"]) >= lifetimes - 1
    assert entry["peak_rps_1s"] >= entry["baseline_peak_rps_1s"] > 0
    assert entry["sustained_s"] >= scenario.token.ttl


def synchronised(retry: dict[str, Any], cohorts: list[dict[str, Any]] | None = None) -> Any:
    """500 always-on instances launch within one second into a 5-minute 503 outage: every
    registration fails at once, and the retry policy alone decides how they come back."""
    return validate(
        {
            "scenario": {"name": "herd", "duration": "1h", "bin": "1m", "seed": 4},
            "fleet": {"instances": 500, "start": "cold", "launch_spread": "1s"},
            "cohorts": cohorts or [{"share": 1.0, "platform": "server", "retry": retry}],
            "token": {"ttl": "30m"},
            "faults": {"outages": [{"start": "0s", "duration": "5m", "mode": "503"}]},
        },
        "test",
        budget=False,
    )


def test_full_jitter_has_a_lower_one_second_peak_than_plain_exponential() -> None:
    """Equal schedules (base 1 s, cap 5 min, 12 attempts): plain exponential brings all
    500 back in the same second after the outage, full jitter spreads them."""
    policy = {"base": "1s", "cap": "5m", "attempts": 12}
    peaks = {}
    for kind in ("exponential", "full_jitter"):
        result = simulate(synchronised({"kind": kind, **policy}))
        peaks[kind] = result.counts.per_second.total_peak(("register", "token"), 300.0, 1800.0)
        assert result.counters.total("register", "201") == 500  # everyone got through
    assert peaks["exponential"] >= 400
    assert peaks["full_jitter"] < peaks["exponential"] / 4


def test_each_cohorts_own_one_second_peak_tells_policies_apart_in_one_run() -> None:
    """Two cohorts in one synchronised fleet, equal attempts, different shapes: the fleet's
    peak mixes them, each cohort's own row (`by_cohort`) does not. Both first attempts fall
    in the outage's first second (the peak during it); after it the shapes differ. The
    cohort rows add up, second by second, to the register and token rows."""
    policy = {"base": "1s", "cap": "5m", "attempts": 12}
    cohorts = [
        {"name": kind, "share": 0.5, "platform": "server", "retry": {"kind": kind, **policy}}
        for kind in ("exponential", "full_jitter")
    ]
    result = simulate(synchronised({}, cohorts))
    (entry,) = recovery_report(result)
    own = entry["by_cohort"]
    assert set(own) == {"exponential", "full_jitter"}
    assert own["exponential"]["peak_rps_1s"] >= 150
    assert min(o["peak_rps_1s_during"] for o in own.values()) >= 150
    assert own["full_jitter"]["peak_rps_1s"] < own["exponential"]["peak_rps_1s"] / 4
    assert entry["peak_rps_1s"] >= own["exponential"]["peak_rps_1s"]
    rows = result.counts.per_second.counts
    seconds = set(rows["register"]) | set(rows.get("token", {}))
    for second in seconds:
        fleet = rows["register"].get(second, 0) + rows.get("token", {}).get(second, 0)
        assert fleet == rows["dcr@0"].get(second, 0) + rows["dcr@1"].get(second, 0)


def give_up(choice: str) -> Any:
    """TVs rarely in a session, 1-hour tokens, a 3-hour 503 outage and a policy that gives
    up after 3 attempts: what they do next is the cohort's choice."""
    return simulate(
        validate(
            {
                "scenario": {"name": "giveup", "duration": "8h", "bin": "10m", "seed": 6},
                "fleet": {"instances": 200},
                "cohorts": [
                    {
                        "share": 1.0,
                        "platform": "tv",
                        "after_give_up": choice,
                        "retry": {"kind": "exponential", "base": "1s", "cap": "10m", "attempts": 3},
                    }
                ],
                "usage": {"sessions_per_day": 0.5},
                "token": {"ttl": "1h"},
                "faults": {"outages": [{"start": "2h", "duration": "3h", "mode": "503"}]},
            },
            "test",
            budget=False,
        )
    )


def test_a_tv_that_gives_up_keeps_its_timer_when_its_cohort_says_so() -> None:
    """next_session: after three refused attempts a backgrounded TV is silent until its next
    session, so the token load during the outage dies out; keep_timer: a fresh round every
    10 min, and the fleet holds tokens again soon after the outage."""
    outage = (2 * 3600.0, 5 * 3600.0)
    waits, keeps = give_up("next_session"), give_up("keep_timer")

    def tokens(result: Any, start: float, end: float) -> int:
        per_bin = result.counters.per_bin("token")
        return sum(n for i, n in enumerate(per_bin) if start <= i * 600.0 < end)

    late_outage = (outage[0] + 3600.0, outage[1])
    assert tokens(keeps, *late_outage) > 3 * tokens(waits, *late_outage)
    after = (outage[1], outage[1] + 1800.0)
    ok_after = [
        r.counters.total("token", "201") - tokens_ok_before(r, outage[1]) for r in (waits, keeps)
    ]
    assert ok_after[1] > ok_after[0]
    assert tokens(keeps, *after) > 0


def tokens_ok_before(result: Any, t: float) -> int:
    rows = [row for e, o, row in result.counters.items() if e == "token" and o == "201"]
    return sum(n for row in rows for i, n in enumerate(row) if i * 600.0 < t)
