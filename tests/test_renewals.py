"""Background renewals in one `Send(at=...)` each (`Agent._renewals`, run-to-completion only)
count exactly what stepping every event counts — also where they must fall back on the
general loop: an outage, a revocation, a throttle that refuses renewals, a clock far off.
The lifecycle's read-only queries answer what `next_action` answers."""

from __future__ import annotations

import math
from typing import Any

import pytest
from golden import ROOT

from dcrload.core.actions import AppBackgrounded, FetchToken, Response, Wait
from dcrload.core.clocks import DeviceClock
from dcrload.core.lifecycle import AppInstance, InstanceConfig
from dcrload.core.streams import LazyStream, stream
from dcrload.model.scenario import load_scenario
from sim.fleet import simulate

TV_FLEET = [
    "fleet.instances=60",
    "scenario.duration=14h",
    "cohorts.0.share=0.2",
    "cohorts.1.share=0.8",
    "faults.clock.wild_fraction=0.1",  # clocks days ahead renew every 1 % of the lifetime
]
FALLBACKS: dict[str, list[str]] = {
    "plain": [],
    "outage": ['faults.outages=[{start="9h", duration="40m", mode="503"}]'],
    "timeouts": ['faults.outages=[{start="3h", duration="20m", mode="timeout"}]'],
    "revocation": [
        'faults.revocations=[{at="8h", software_id="streamco-tv", rollout={software_id='
        '"streamco-tv-2", released_at="10h", curve="stepped", steps=[["2h", 0.5]]}}]',
        'cohorts.1.software_id="streamco-tv"',
    ],
    "throttle": ["server.throttle.rate=0.004", "server.throttle.burst=1"],
}


def counts_of(extra: list[str], **options: Any) -> tuple[dict[str, Any], int]:
    scenario = load_scenario(ROOT / "scenarios" / "default.toml", [*TV_FLEET, *extra])
    result = simulate(scenario, **options)
    data = result.counts.to_json()
    data["server"] = [result.clients_registered, result.tokens_issued]
    for key in ("blocked_starts", "blocked_ends"):  # in the order instances ran, and SimPy
        data[key] = sorted(round(t, 6) for t in data[key])  # adds its timeouts up: 1e-12 off
    return data, result.events


@pytest.fixture(scope="module", params=sorted(FALLBACKS))
def runs(request: pytest.FixtureRequest) -> dict[str, Any]:
    extra = FALLBACKS[request.param]
    renewed, fast_events = counts_of(extra)
    stepped, stepped_events = counts_of(extra, bulk=False)
    event, _ = counts_of(extra, engine="event")
    return {
        "name": request.param,
        "renewed": renewed,
        "stepped": stepped,
        "event": event,
        "fast_events": fast_events,
        "stepped_events": stepped_events,
    }


def test_renewals_count_what_stepping_counts(runs: dict[str, Any]) -> None:
    assert runs["renewed"] == runs["stepped"]


def test_renewals_count_what_the_event_engine_counts(runs: dict[str, Any]) -> None:
    assert runs["renewed"] == runs["event"]


def test_the_fast_path_ran_and_the_fault_made_it_fall_back(runs: dict[str, Any]) -> None:
    share = 0.95 if runs["name"] == "throttle" else 0.8  # refused renewals are stepped
    assert runs["fast_events"] < runs["stepped_events"] * share  # renewals skipped events
    outcomes = {(e, o) for e, o, row in runs["renewed"]["series"] if sum(row)}
    expected = {
        "plain": ("token", "201"),
        "outage": ("token", "503"),
        "timeouts": ("token", "timeout"),
        "revocation": ("token", "400"),
        "throttle": ("token", "429"),
    }[runs["name"]]
    assert expected in outcomes


# --------------------------------------------------------------------------- the queries

TV = InstanceConfig(platform="tv", basis="exp")


def backgrounded(clock: DeviceClock, lifetime: float = 21_600.0) -> AppInstance:
    inst = AppInstance(TV, "s", "s", clock=clock, rng=stream(1, 1, "refresh"))
    inst.restore("s|1", "secret", -100.0, lifetime)
    inst.handle(AppBackgrounded(), 0.0)
    return inst


@pytest.mark.parametrize(
    "clock",
    [DeviceClock(), DeviceClock(offset=90_000.0), DeviceClock(offset=-40.0, skew_ppm=80.0),
     DeviceClock(offset=5.0, steps=((3_000.0, -7_200.0), (9_000.0, 7_000.0)))],
)  # fmt: skip
def test_renewal_queries_answer_what_next_action_answers(clock: DeviceClock) -> None:
    inst = backgrounded(clock)
    t = 0.0
    for _ in range(30):
        wait = inst.renewal_wait(t)
        due = inst.renewal_due(t)
        action = inst.next_action(t)
        if due:
            assert type(action) is FetchToken and wait is None
            done = t + 0.05
            body = {"access_token": f"{done + 21_600.0!r}|s|1", "expires_in": 21_600.0,
                    "created_at": done * 1000.0}  # fmt: skip
            inst.handle(Response(201, body), done)
            t = done
        else:
            assert action == Wait(wait if wait is not None else math.inf)
            assert wait is not None and wait > t
            t = wait


def test_queries_refuse_anything_but_the_plain_background_state() -> None:
    inst = backgrounded(DeviceClock())
    assert inst.renewal_wait(0.0) is not None
    inst.foreground = True
    assert inst.renewal_wait(0.0) is None and not inst.renewal_due(30_000.0)
    mobile = AppInstance(InstanceConfig(platform="mobile"), "s", "s", rng=stream(1, 2, "refresh"))
    mobile.restore("s|2", "secret", 0.0, 3600.0)
    assert mobile.renewal_wait(10.0) is None and not mobile.renewal_due(4000.0)


def test_a_lazy_stream_draws_what_its_stream_draws() -> None:
    lazy, eager = LazyStream(9, 4, "retry"), stream(9, 4, "retry")
    assert [lazy.random(), lazy.uniform(0, 3), lazy.expovariate(2.0)] == [
        eager.random(), eager.uniform(0, 3), eager.expovariate(2.0)
    ]  # fmt: skip
