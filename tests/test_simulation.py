"""The SimPy fleet against numbers worked out by hand from the scenario.

Runs `sim.simulate` in-process on small fleets; the command line and its files are tested in
`test_simulate_cli.py`.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from dcrload.core.strategies import FixedLead
from dcrload.model.counts import RunResult as SimulationResult
from dcrload.model.policies import PRESETS
from dcrload.model.scenario import Scenario, load_scenario
from dcrload.results.summary import summary_of
from sim.fleet import simulate

pytestmark = pytest.mark.xdist_group("simulation")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
STEADY = ROOT / "scenarios" / "steady-state.toml"
DEFAULT = ROOT / "scenarios" / "default.toml"
NO_DRIFT = ["faults.clock.wild_fraction=0", 'faults.clock.offset={dist = "fixed", value = 0}']
BEHIND_10M = ['faults.clock.offset={dist = "fixed", value = "-10m"}']


def run(path: Path, *overrides: str) -> tuple[Scenario, SimulationResult, dict[str, Any]]:
    scenario = load_scenario(path, list(overrides))
    result = simulate(scenario)
    return scenario, result, summary_of(result)


# --------------------------------------------------------------- steady state


@pytest.fixture(scope="module")
def steady() -> tuple[Scenario, SimulationResult, dict[str, Any]]:
    return run(STEADY)


def test_steady_state_token_rate_is_n_over_ttl_minus_lead(
    steady: tuple[Scenario, SimulationResult, dict[str, Any]],
) -> None:
    scenario, result, _ = steady
    (cohort,) = scenario.cohorts
    assert cohort.platform == "server" and isinstance(cohort.refresh, FixedLead)
    n = scenario.fleet.instances
    ttl, lead = scenario.token.ttl, cohort.refresh.lead
    spread, bin_width = scenario.fleet.launch_spread, scenario.scenario.bin
    assert spread % bin_width == 0, "the window must start on a bin boundary"
    window = scenario.scenario.duration - spread
    assert window >= 3 * (ttl - lead), "the window must hold several refresh cycles"
    expected = n * window / (ttl - lead)

    per_bin = result.counters.per_bin("token")
    measured = sum(per_bin[int(spread // bin_width) :])
    assert measured == pytest.approx(expected, rel=0.02)


def test_steady_state_registers_each_instance_exactly_once(
    steady: tuple[Scenario, SimulationResult, dict[str, Any]],
) -> None:
    scenario, _, summary = steady
    register = summary["endpoints"]["register"]
    assert register["requests"] == scenario.fleet.instances
    assert register["by_outcome"] == {"201": scenario.fleet.instances}
    assert summary["impact"]["registrations_per_install"] == 1.0
    assert summary["impact"]["reauthentications"] == 0


def test_steady_state_every_api_call_succeeds(
    steady: tuple[Scenario, SimulationResult, dict[str, Any]],
) -> None:
    scenario, result, summary = steady
    api = summary["endpoints"]["api"]
    assert set(api["by_outcome"]) == {"200"}
    assert summary["impact"]["expired_token_calls"] == 0
    # always-on instances call once per interval from their launch to the end of the run
    interval = scenario.usage.api_interval
    expected = scenario.fleet.instances * (
        (scenario.scenario.duration - scenario.fleet.launch_spread / 2) / interval
    )
    assert api["requests"] == pytest.approx(expected, rel=0.01)
    assert result.counts.failed_api_calls == 0


# --------------------------------------------------------------- expired-token calls


def test_reactive_client_refreshes_after_every_expired_call() -> None:
    """oauthlib on a clock 10 min behind: each token outlives its real expiry on the device,
    the next API call meets a 401, and that call (and only that) triggers the refresh."""
    scenario, result, summary = run(
        STEADY,
        "fleet.instances=200",
        "scenario.duration=8h",
        "cohorts.0.refresh=oauthlib",
        "cohorts.0.expiry_basis=exp",
        *BEHIND_10M,
    )
    n = scenario.fleet.instances
    expired = summary["impact"]["expired_token_calls"]
    api_401 = summary["endpoints"]["api"]["by_outcome"].get("401", 0)
    tokens = summary["endpoints"]["token"]["requests"]
    assert expired > 0
    assert expired == api_401
    assert tokens >= expired
    assert tokens - n == expired  # the first token each, then one refresh per expired call
    assert summary["impact"]["failed_api_calls"] == 0
    assert result.counts.failed_api_calls == 0
    # ...and the refresh follows the call: at every bin, the token requests so far beyond
    # one per registration are at least the expired calls so far
    tokens_so_far = itertools.accumulate(result.counters.per_bin("token"))
    registered_so_far = itertools.accumulate(result.counters.per_bin("register"))
    met_so_far = itertools.accumulate(result.counts.expired_calls.per_bin)
    for t, r, m in zip(tokens_so_far, registered_so_far, met_so_far, strict=True):
        assert t - r >= m


def test_reactive_client_with_a_true_clock_knows_when_its_token_expired() -> None:
    _, _, summary = run(STEADY, "fleet.instances=200", "cohorts.0.refresh=oauthlib")
    assert summary["impact"]["expired_token_calls"] == 0
    assert set(summary["endpoints"]["api"]["by_outcome"]) == {"200"}


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "oauthlib"])
@pytest.mark.parametrize("basis", ["expires_in", "exp"])
def test_proactive_presets_without_drift_make_no_expired_call(preset: str, basis: str) -> None:
    _, _, summary = run(
        STEADY,
        "fleet.instances=100",
        "scenario.duration=6h",
        f"cohorts.0.refresh={preset}",
        f"cohorts.0.expiry_basis={basis}",
    )
    assert summary["impact"]["expired_token_calls"] == 0
    assert "401" not in summary["endpoints"]["api"]["by_outcome"]
    assert summary["endpoints"]["token"]["requests"] > 100


def test_mixed_fleet_without_drift_makes_no_expired_call() -> None:
    _, _, summary = run(DEFAULT, "fleet.instances=1500", "scenario.duration=1d", *NO_DRIFT)
    assert summary["impact"]["expired_token_calls"] == 0
    assert "401" not in summary["endpoints"]["api"]["by_outcome"]
    assert summary["endpoints"]["api"]["requests"] > 0


def test_a_clock_behind_by_more_than_the_lead_makes_expired_calls() -> None:
    """The converse of the two tests above: the exp basis trusts the device clock."""
    _, _, summary = run(
        STEADY,
        "fleet.instances=100",
        "scenario.duration=6h",
        "cohorts.0.refresh=google-auth",
        "cohorts.0.expiry_basis=exp",
        *BEHIND_10M,
    )
    assert summary["impact"]["expired_token_calls"] > 0
    # the same clock on the expires_in basis is harmless
    _, _, summary = run(
        STEADY,
        "fleet.instances=100",
        "scenario.duration=6h",
        "cohorts.0.refresh=google-auth",
        "cohorts.0.expiry_basis=expires_in",
        *BEHIND_10M,
    )
    assert summary["impact"]["expired_token_calls"] == 0


# --------------------------------------------------------------- lifecycle rules, fleet-wide


def test_lost_credentials_cost_a_registration_and_a_reauthentication_each() -> None:
    _, _, summary = run(
        STEADY,
        "fleet.instances=200",
        "scenario.duration=1d",
        "faults.credential_loss_per_day=0.5",
    )
    losses = summary["impact"]["credential_losses"]
    assert losses > 20
    assert summary["endpoints"]["register"]["requests"] == 200 + losses
    assert summary["impact"]["reauthentications"] == losses


def test_reregistering_to_refresh_costs_a_registration_per_refresh() -> None:
    _, _, good = run(STEADY, "fleet.instances=100", "scenario.duration=6h")
    _, _, bad = run(
        STEADY,
        "fleet.instances=100",
        "scenario.duration=6h",
        "cohorts.0.antipattern=reregister_on_refresh",
    )
    assert good["endpoints"]["register"]["requests"] == 100
    assert bad["endpoints"]["register"]["requests"] > 400
    # each re-registration costs a re-authentication (but the last few may still be fetching
    # their token when the run ends)
    reregistered = bad["endpoints"]["register"]["requests"] - 100
    assert reregistered * 0.98 <= bad["impact"]["reauthentications"] <= reregistered


def test_revoked_statement_blocks_until_the_update_is_installed() -> None:
    _, _, summary = run(
        STEADY,
        "fleet.instances=100",
        "scenario.duration=12h",
        'faults.revocations=[{at = "3h", software_id = "dcrload-demo", rollout = '
        '{software_id = "v2", released_at = "4h", curve = "stepped", steps = [["1h", 1.0]]}}]',
    )
    impact = summary["impact"]
    assert impact["blocked_instance_seconds"] > 0
    assert impact["app_updates"] == 100
    # every instance registers again with the new statement, and its user logs in again
    assert summary["endpoints"]["register"]["by_outcome"]["201"] == 200
    assert impact["reauthentications"] == 100
