"""Refresh strategies and their presets: when does a client refresh a known token?

Each preset is resolved the way a scenario names it (`refresh = "google-auth"`), then asked
twice: directly through `plan`, and through the lifecycle, which must wake up at exactly
that time.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from pydantic import ValidationError

from dcrload.core.actions import (
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    CallApi,
    FetchToken,
    Register,
    Response,
    Wait,
)
from dcrload.core.lifecycle import AppInstance, InstanceConfig
from dcrload.core.strategies import AdvisoryMandatory, FixedLead, FractionJitter
from dcrload.model.policies import PRESET_SOURCES, PRESETS, resolve_refresh
from dcrload.model.scenario import Cohort

HOUR = 3600.0
SIX_HOURS = 6 * HOUR
ISSUED = 1000.0


def strategy(name_or_table: Any) -> Any:
    """The strategy a scenario cohort gets for `refresh = name_or_table`."""
    return Cohort(share=1.0, refresh=name_or_table).refresh


def refresh_time(refresh: Any, lifetime: float, seed: int = 1) -> float:
    """When a tv instance that got a `lifetime` token at ISSUED next wakes to refresh."""
    inst = AppInstance(
        InstanceConfig(refresh=refresh, platform="tv"), "stmt", "app", rng=random.Random(seed)
    )
    inst.handle(AppLaunched(), ISSUED)
    inst.handle(ApiCallDue(), ISSUED)
    assert isinstance(inst.next_action(ISSUED), Register)
    inst.handle(Response(201, {"client_id": "c", "client_secret": "s"}), ISSUED)
    assert isinstance(inst.next_action(ISSUED), FetchToken)
    inst.handle(Response(201, {"access_token": "t", "expires_in": lifetime}), ISSUED)
    assert isinstance(inst.next_action(ISSUED), CallApi)
    inst.handle(Response(200, {}), ISSUED)
    inst.handle(AppBackgrounded(), ISSUED)
    action = inst.next_action(ISSUED)
    assert isinstance(action, Wait)
    if action.until < math.inf:
        assert inst.next_action(action.until) == FetchToken("c", "s")
    return action.until


FIXED_LEADS = {
    "google-auth": 225.0,  # 3 min 45 s
    "azure-identity": 300.0,
    "authlib": 60.0,
    "okta": 30.0,
    "golang-oauth2": 10.0,
}


@pytest.mark.parametrize(("preset", "lead"), FIXED_LEADS.items())
def test_fixed_lead_presets(preset: str, lead: float) -> None:
    refresh = strategy(preset)
    assert isinstance(refresh, FixedLead)
    assert refresh_time(refresh, SIX_HOURS) == pytest.approx(ISSUED + SIX_HOURS - lead)


def test_msal_refreshes_at_half_a_long_lifetime() -> None:
    assert refresh_time(strategy("msal"), SIX_HOURS) == pytest.approx(ISSUED + 3 * HOUR)


def test_msal_falls_back_on_a_five_minute_lead_for_short_lifetimes() -> None:
    assert refresh_time(strategy("msal"), HOUR) == pytest.approx(ISSUED + HOUR - 300.0)


def test_msal_threshold_is_two_hours() -> None:
    assert refresh_time(strategy("msal"), 2 * HOUR) == pytest.approx(ISSUED + HOUR)


def test_kubelet_refreshes_in_the_last_fifth_minus_up_to_ten_seconds() -> None:
    times = [refresh_time(strategy("kubelet"), SIX_HOURS, seed) - ISSUED for seed in range(200)]
    assert all(0.8 * SIX_HOURS - 10.0 <= t <= 0.8 * SIX_HOURS for t in times)
    assert max(times) - min(times) > 5.0  # really jittered


def test_aws_sdk_java_prefetches_between_one_and_five_minutes() -> None:
    leads = [
        ISSUED + SIX_HOURS - refresh_time(strategy("aws-sdk-java"), SIX_HOURS, seed)
        for seed in range(200)
    ]
    assert all(60.0 - 1e-6 <= lead <= 300.0 + 1e-6 for lead in leads)
    assert max(leads) - min(leads) > 120.0


def test_botocore_advisory_and_mandatory_windows() -> None:
    refresh = strategy("botocore")
    assert isinstance(refresh, AdvisoryMandatory)
    plan = refresh.plan(0.0, SIX_HOURS, random.Random(1))
    assert plan.refresh_at == SIX_HOURS - 900.0
    assert plan.mandatory_at == SIX_HOURS - 600.0
    assert refresh_time(refresh, SIX_HOURS) == pytest.approx(ISSUED + SIX_HOURS - 900.0)


def test_oauthlib_never_refreshes_on_a_timer() -> None:
    refresh = strategy("oauthlib")
    assert not refresh.proactive
    assert refresh_time(refresh, SIX_HOURS) == math.inf


@pytest.mark.parametrize("preset", [p for p in PRESETS if p != "oauthlib"])
def test_proactive_presets_refresh_before_expiry(preset: str) -> None:
    at = refresh_time(strategy(preset), SIX_HOURS)
    assert ISSUED < at < ISSUED + SIX_HOURS


def test_every_preset_names_its_source() -> None:
    assert set(PRESET_SOURCES) == set(PRESETS)


def test_presets_are_accepted_as_tables_too() -> None:
    assert strategy({"kind": "fixed_lead", "lead": "3m45s"}) == strategy("google-auth")
    assert strategy(PRESETS["botocore"]) == strategy("botocore")


def test_lead_longer_than_the_lifetime_refreshes_at_issue_not_before() -> None:
    plan = FixedLead(lead=2 * HOUR).plan(100.0, 100.0 + HOUR, random.Random(1))
    assert plan.refresh_at == 100.0


def test_unknown_preset_lists_the_presets() -> None:
    with pytest.raises(ValueError, match="unknown refresh preset 'goggle-auth'") as caught:
        resolve_refresh("goggle-auth")
    for name in PRESETS:
        assert name in str(caught.value)


def test_strategy_tables_are_validated() -> None:
    with pytest.raises(ValidationError):
        strategy({"kind": "fraction_jitter", "lead_min": "5m", "lead_max": "1m"})
    with pytest.raises(ValidationError):
        strategy({"kind": "advisory_mandatory", "advisory": "5m", "mandatory": "10m"})
    with pytest.raises(ValidationError):
        strategy({"kind": "fixed_lead", "lead": "5m", "jitter": "1s"})


def test_jitter_draws_from_the_rng_handed_in() -> None:
    kubelet = strategy("kubelet")
    assert isinstance(kubelet, FractionJitter)
    first = kubelet.plan(0.0, SIX_HOURS, random.Random(42))
    again = kubelet.plan(0.0, SIX_HOURS, random.Random(42))
    assert first == again


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_refresh_at_is_the_plans_refresh_point(name: str) -> None:
    """`refresh_at` (the plain day asks only for it) is `plan(...).refresh_at`, draw for draw."""
    chosen = strategy(name)
    for issued, expiry in ((0.0, SIX_HOURS), (ISSUED, ISSUED + 60.0), (-500.0, 200.0)):
        ours, theirs = random.Random(3), random.Random(3)
        alone = [chosen.refresh_at(issued, expiry, ours) for _ in range(5)]
        planned = [chosen.plan(issued, expiry, theirs).refresh_at for _ in range(5)]
        assert alone == planned
