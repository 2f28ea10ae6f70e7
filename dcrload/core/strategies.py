"""Refresh strategies: "when, on my local clock, do I refresh this token?"

Each strategy is a frozen model chosen by `kind` with one method, `plan`, that takes the
token's issue and expiry readings on the device's own clock (the basis the cohort uses)
and answers with a `RefreshPlan`: when to refresh proactively, and from when on a failed
refresh must fail the caller instead of falling back on the old, still valid token.
Strategies never read a clock or a global random source; jitter comes from the `rng`
handed in.

The presets are named after the client libraries whose defaults they copy, so a scenario
can say `refresh = "google-auth"`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dcrload.model.distributions import Duration


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """Local-clock times: refresh at `refresh_at`; after `mandatory_at` a refresh must succeed."""

    refresh_at: float
    mandatory_at: float


class _Strategy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def proactive(self) -> bool:
        """Whether the strategy refreshes before the token is known to be expired."""
        return True


class Reactive(_Strategy):
    """Refresh only once the token is known to be expired or an API call got 401 (oauthlib)."""

    kind: Literal["reactive"] = "reactive"

    @property
    def proactive(self) -> bool:
        return False

    def plan(self, issued: float, expiry: float, rng: random.Random) -> RefreshPlan:
        return RefreshPlan(refresh_at=expiry, mandatory_at=expiry)


class FixedLead(_Strategy):
    """Refresh `lead` before expiry (google-auth, azure-identity, authlib, okta, golang)."""

    kind: Literal["fixed_lead"] = "fixed_lead"
    lead: Duration = Field(ge=0)

    def plan(self, issued: float, expiry: float, rng: random.Random) -> RefreshPlan:
        return RefreshPlan(refresh_at=max(issued, expiry - self.lead), mandatory_at=expiry)


class Fraction(_Strategy):
    """Refresh after `fraction` of the lifetime if it is at least `min_lifetime` (MSAL).

    Shorter lifetimes fall back on refreshing `fallback_lead` before expiry.
    """

    kind: Literal["fraction"] = "fraction"
    fraction: float = Field(gt=0, le=1, default=0.5)
    min_lifetime: Duration = Field(ge=0, default=0.0)
    fallback_lead: Duration = Field(ge=0, default=0.0)

    def plan(self, issued: float, expiry: float, rng: random.Random) -> RefreshPlan:
        lifetime = expiry - issued
        if lifetime >= self.min_lifetime:
            at = issued + self.fraction * lifetime
        else:
            at = max(issued, expiry - self.fallback_lead)
        return RefreshPlan(refresh_at=at, mandatory_at=expiry)


class FractionJitter(_Strategy):
    """Refresh at `fraction` of the lifetime minus a lead drawn in [`lead_min`, `lead_max`].

    kubelet: the last 20 % of the lifetime, minus up to 10 s; aws-sdk-java: a 5 min
    prefetch jittered down to 1 min.
    """

    kind: Literal["fraction_jitter"] = "fraction_jitter"
    fraction: float = Field(gt=0, le=1, default=1.0)
    lead_min: Duration = Field(ge=0, default=0.0)
    lead_max: Duration = Field(ge=0, default=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> FractionJitter:
        if self.lead_max < self.lead_min:
            raise ValueError("lead_max must be at least lead_min")
        return self

    def plan(self, issued: float, expiry: float, rng: random.Random) -> RefreshPlan:
        lead = rng.uniform(self.lead_min, self.lead_max)
        at = issued + self.fraction * (expiry - issued) - lead
        return RefreshPlan(refresh_at=max(issued, at), mandatory_at=expiry)


class AdvisoryMandatory(_Strategy):
    """botocore: try to refresh `advisory` before expiry; must succeed from `mandatory` before.

    Inside the advisory window a failed refresh keeps the old token; inside the mandatory
    window it fails the caller.
    """

    kind: Literal["advisory_mandatory"] = "advisory_mandatory"
    advisory: Duration = Field(ge=0, default=900.0)
    mandatory: Duration = Field(ge=0, default=600.0)

    @model_validator(mode="after")
    def _ordered(self) -> AdvisoryMandatory:
        if self.mandatory > self.advisory:
            raise ValueError("the mandatory window must not be longer than the advisory one")
        return self

    def plan(self, issued: float, expiry: float, rng: random.Random) -> RefreshPlan:
        return RefreshPlan(
            refresh_at=max(issued, expiry - self.advisory),
            mandatory_at=max(issued, expiry - self.mandatory),
        )


RefreshStrategy = Annotated[
    Reactive | FixedLead | Fraction | FractionJitter | AdvisoryMandatory,
    Field(discriminator="kind"),
]
"""A strategy table such as `{kind = "fixed_lead", lead = "5m"}`."""

PRESETS: dict[str, dict[str, Any]] = {
    "oauthlib": {"kind": "reactive"},
    "google-auth": {"kind": "fixed_lead", "lead": "3m45s"},
    "azure-identity": {"kind": "fixed_lead", "lead": "5m"},
    "authlib": {"kind": "fixed_lead", "lead": "60s"},
    "okta": {"kind": "fixed_lead", "lead": "30s"},
    "golang-oauth2": {"kind": "fixed_lead", "lead": "10s"},
    "msal": {"kind": "fraction", "fraction": 0.5, "min_lifetime": "2h", "fallback_lead": "5m"},
    "kubelet": {"kind": "fraction_jitter", "fraction": 0.8, "lead_min": "0s", "lead_max": "10s"},
    "aws-sdk-java": {
        "kind": "fraction_jitter",
        "fraction": 1.0,
        "lead_min": "1m",
        "lead_max": "5m",
    },
    "botocore": {"kind": "advisory_mandatory", "advisory": "15m", "mandatory": "10m"},
}
"""Strategy presets by the name of the library whose default they copy."""

PRESET_SOURCES: dict[str, str] = {
    "oauthlib": "oauthlib / requests-oauthlib: refresh on TokenExpiredError or 401 only",
    "google-auth": "google-auth (Python): REFRESH_THRESHOLD of 3 min 45 s",
    "azure-identity": "azure-identity: refresh 5 min before expiry",
    "authlib": "Authlib: leeway of 60 s",
    "okta": "Okta SDKs: 30 s expiry buffer",
    "golang-oauth2": "golang.org/x/oauth2: expiryDelta of 10 s",
    "msal": "MSAL: refresh_in = half of expires_in when it is at least 2 h, else 5 min buffer",
    "kubelet": "kubelet projected tokens: after 80 % of the lifetime, jittered by up to 10 s",
    "aws-sdk-java": "AWS SDK for Java v2: 5 min prefetch jittered down to 1 min",
    "botocore": "botocore: 15 min advisory and 10 min mandatory refresh windows",
}


def resolve_refresh(value: Any) -> Any:
    """Turn a preset name into its strategy table; leave tables as they are.

    Raises ValueError naming the presets when `value` is an unknown name.
    """
    if isinstance(value, str):
        if value in PRESETS:
            return PRESETS[value]
        if value in {"reactive"}:
            return {"kind": value}
        raise ValueError(f"unknown refresh preset {value!r}; presets: {', '.join(PRESETS)}")
    return value
