"""The plain day (`sim.plainday`) records exactly what the agent records.

Every count the run to completion keeps — the raw records behind every figure, the
server's arrivals and service times, events, tokens and clients — is compared byte for
byte with the fast path on and off: on every shipped scenario, and on variants built to
make it give up half-way (losses, skewed clocks, back-to-back sessions, short tokens,
other strategies, a small throttle bucket). A fast path that took no instance would pass
those trivially, so the fraction it takes is checked too.
"""

from __future__ import annotations

import json

import pytest
from generated import suite_settings
from golden import SMALL, scenario_of
from hypothesis import given
from hypothesis import strategies as st

from dcrload.model.counts import RunCounts
from dcrload.model.plans import FleetModel, fleet_plans, install_schedule
from sim.direct import run_fleet
from sim.fleet import simulate
from sim.plainday import PlainDay, plain_fleet
from sim.server import SimServer


def everything(scenario: object, plain: bool, groups: int = 1) -> tuple[dict[str, str], int]:
    """(every record of the run, each part as JSON; instances the fast path took). With
    `groups`, instance i reports to recorder i mod groups, as a sample's replicate groups
    do (the server's records go to the first)."""
    model = FleetModel(scenario, scenario.scenario.seed)  # type: ignore[attr-defined]
    info = scenario.scenario  # type: ignore[attr-defined]
    recorders = [
        RunCounts(info.duration, info.bin, len(scenario.cohorts))  # type: ignore[attr-defined]
        for _ in range(groups)
    ]
    counts = recorders[0]
    server = SimServer(scenario, fifo=False, counts=counts)  # type: ignore[arg-type]
    fast = PlainDay(model, server) if plain else None
    plans = fleet_plans(model, install_schedule(model), bulk_draws=plain)
    events = run_fleet(
        model,
        plans,
        server,
        counts,
        plain=fast,
        recorder=(lambda plan: recorders[plan.index % groups]) if groups > 1 else None,
    )
    parts = {
        f"counts{k}.{key}": value
        for k, recorder in enumerate(recorders)
        for key, value in recorder.to_json().items()
    } | {
        "events": events,
        "tokens": server.tokens,
        "clients": server.clients,
        "server.arrivals": server.arrivals.tolist(),
        "server.services": server.services.tolist(),
    }
    record = {key: json.dumps(value, sort_keys=True) for key, value in parts.items()}
    return record, (fast.taken if fast is not None else 0)


def differing(fast: dict[str, str], slow: dict[str, str]) -> list[str]:
    """The parts that differ (named, not diffed: a diff of megabytes of JSON takes pytest
    minutes to print)."""
    return [key for key in slow.keys() | fast.keys() if fast.get(key) != slow.get(key)]


def may_take(scenario: object) -> bool:
    """Whether any cohort of `scenario` may take the fast path (else both runs are one)."""
    model = FleetModel(scenario, 7)  # type: ignore[arg-type]
    return any(plain_fleet(model, SimServer(scenario, fifo=False)))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_shipped_scenario_counts_the_same_with_the_fast_path(name: str) -> None:
    scenario = scenario_of(name)
    if not may_take(scenario):  # an outage, a revocation, servers, anti-patterns, ...
        _, taken = everything(scenario, plain=True)
        assert taken == 0
        return
    slow, _ = everything(scenario, plain=False)
    fast, taken = everything(scenario, plain=True)
    assert differing(fast, slow) == []
    assert taken > 0 or not scenario.fleet.instances  # only new installs: they register


def test_a_samples_replicate_groups_count_the_same_with_the_fast_path() -> None:
    """Each of several recorders (a sample's groups) gets the agent's records, in order."""
    scenario = scenario_of("default", ["fleet.instances=300", "scenario.duration=1d"])
    slow, _ = everything(scenario, plain=False, groups=3)
    fast, taken = everything(scenario, plain=True, groups=3)
    assert differing(fast, slow) == []
    assert taken > 250


VARIANTS: dict[str, tuple[list[str], bool]] = {
    # name: (overrides, whether some phone's day is still plain)
    "losses": (["faults.credential_loss_per_day=0.5"], True),
    "skewed, stepped clocks": (
        ["faults.clock.skew_ppm_sd=50", "faults.clock.steps_per_day=2", "token.ttl=2h"],
        True,
    ),
    "wild clocks": (["faults.clock.wild_fraction=0.5"], True),
    "short tokens, many sessions": (
        [
            "token.ttl=20m",
            "usage.sessions_per_day=12",
            "cohorts.0.share=0.8",
            "cohorts.1.share=0.2",
        ],
        True,
    ),
    "back-to-back sessions": (
        [
            "usage.sessions_per_day=40",
            'usage.session_length={dist="exponential",mean="2m"}',
            "usage.api_interval=30s",
        ],
        True,
    ),
    "msal and churn": (["cohorts.0.refresh=msal", "token.ttl=2h", "fleet.churn_per_day=1"], True),
    "kubelet's jitter": (["cohorts.0.refresh=kubelet", "token.ttl=1h"], True),
    "botocore, slow service": (
        [
            "cohorts.0.refresh=botocore",
            "token.ttl=1h",
            'server.service_time={dist="exponential",mean="3s"}',
        ],
        True,
    ),
    "slow answers, short sessions": (  # answers that outlast a session, the next call,
        [  # an uninstall or the run's end
            'server.service_time={dist="uniform",low="1s",high="6s"}',
            'usage.session_length={dist="exponential",mean="60s"}',
            "usage.api_interval=5s",
            "usage.sessions_per_day=300",
            "token.ttl=2m",
            "fleet.churn_per_day=1",
            "scenario.duration=30m",
            "fleet.instances=300",
        ],
        True,
    ),
    "a small bucket": (["server.throttle.burst=3"], False),
    "an outage": (['faults.outages=[{start="3h",duration="30m",mode="503"}]'], False),
}


@pytest.mark.parametrize(("overrides", "some_plain"), VARIANTS.values(), ids=VARIANTS.keys())
def test_a_day_the_fast_path_gives_up_on_counts_the_same(
    overrides: list[str], some_plain: bool
) -> None:
    scenario = scenario_of("default", ["fleet.instances=60", "scenario.duration=1d", *overrides])
    slow, _ = everything(scenario, plain=False)
    fast, taken = everything(scenario, plain=True)
    assert differing(fast, slow) == []
    assert (taken > 0) == some_plain


def test_most_of_the_default_fleet_takes_the_fast_path() -> None:
    scenario = scenario_of("default", ["fleet.instances=1000", "scenario.duration=1d"])
    result = simulate(scenario)
    base = scenario.fleet.instances  # warm; a new install starts cold: it registers, not plain
    assert result.engine["plain_days"] >= 0.95 * base
    assert result.engine["plain_days"] <= base


def test_stepping_servers_and_anti_patterns_never_take_it() -> None:
    default = scenario_of("default")
    server = SimServer(default, fifo=False)
    model = FleetModel(default, 7)
    assert plain_fleet(model, server) == [True, True]
    model.bulk = False
    assert plain_fleet(model, server) == [False, False]
    assert simulate(default, bulk=False).engine["plain_days"] == 0
    for name in ("steady-state", "anti-patterns"):  # always-on servers; the anti-patterns
        scenario = scenario_of(name)
        allowed = plain_fleet(FleetModel(scenario, 7), SimServer(scenario, fifo=False))
        for may, cohort in zip(allowed, scenario.cohorts, strict=True):
            if cohort.platform == "server" or cohort.antipattern != "none":
                assert not may, cohort.name


GENERATED = suite_settings("DCRLOAD_PLAIN_EXAMPLES", 6)
"""Six fixed cases; DCRLOAD_PLAIN_EXAMPLES=N runs N random ones."""


@GENERATED
@given(
    ttl_minutes=st.integers(30, 720),
    sessions=st.sampled_from([1, 3, 8]),
    median_minutes=st.integers(1, 90),
    interval_s=st.sampled_from([60, 300, 900]),
    strategies=st.tuples(
        *[st.sampled_from(["google-auth", "azure-identity", "msal", "kubelet", "botocore"])] * 2
    ),
    bases=st.tuples(*[st.sampled_from(["exp", "expires_in"])] * 2),
    offset_sd=st.sampled_from([0, 30, 600]),
    wild=st.sampled_from([0.0, 0.05, 0.3]),
    skew=st.sampled_from([0, 50]),
    losses=st.sampled_from([0.0, 0.001, 0.3]),
    service_ms=st.sampled_from([5, 25, 2000]),
)
def test_generated_fleets_count_the_same_with_the_fast_path(
    ttl_minutes: int,
    sessions: int,
    median_minutes: int,
    interval_s: int,
    strategies: tuple[str, str],
    bases: tuple[str, str],
    offset_sd: int,
    wild: float,
    skew: int,
    losses: float,
    service_ms: int,
) -> None:
    """Any mix of token lifetime, usage, strategies, expiry bases, clocks, losses and
    service time: every record the same with the fast path on and off."""
    overrides = [
        "fleet.instances=20",
        "scenario.duration=1d",
        f"token.ttl={ttl_minutes}m",
        f"usage.sessions_per_day={sessions}",
        f'usage.session_length={{dist="lognormal",median="{median_minutes}m",sigma=0.8}}',
        f"usage.api_interval={interval_s}s",
        f"cohorts.0.refresh={strategies[0]}",
        f"cohorts.1.refresh={strategies[1]}",
        f"cohorts.0.expiry_basis={bases[0]}",
        f"cohorts.1.expiry_basis={bases[1]}",
        f'faults.clock.offset={{dist="normal",sd="{offset_sd}s"}}',
        f"faults.clock.wild_fraction={wild}",
        f"faults.clock.skew_ppm_sd={skew}",
        f"faults.credential_loss_per_day={losses}",
        f'server.service_time={{dist="exponential",mean="{service_ms}ms"}}',
    ]
    scenario = scenario_of("default", overrides)
    slow, _ = everything(scenario, plain=False)
    fast, _ = everything(scenario, plain=True)
    assert differing(fast, slow) == []
