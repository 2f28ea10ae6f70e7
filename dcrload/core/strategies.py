"""Refresh strategies: "when, on my local clock, do I refresh this token?"

Each strategy is a small frozen dataclass with one method, `plan`, that takes the token's
issue and expiry readings on the device's own clock (the basis the cohort uses) and answers
with a `RefreshPlan`: when to refresh proactively, and from when on a failed refresh must
fail the caller instead of falling back on the old, still valid token (`refresh_at` alone
is the first half, for a caller that needs no more). Strategies never
read a clock or a global random source; jitter comes from the `rng` handed in.

The scenario's schema (`dcrload.model.policies`) validates a preset name or a table and
builds these objects; the presets are named after the client libraries whose defaults they
copy, so a scenario can say `refresh = "google-auth"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from dcrload.core.streams import Rng


@dataclass(frozen=True, slots=True)
class RefreshPlan:
    """Local-clock times: refresh at `refresh_at`; after `mandatory_at` a refresh must succeed."""

    refresh_at: float
    mandatory_at: float


@dataclass(frozen=True, slots=True)
class Reactive:
    """Refresh only once the token is known to be expired or an API call got 401 (oauthlib)."""

    kind: ClassVar[Literal["reactive"]] = "reactive"
    proactive: ClassVar[bool] = False
    """Whether the strategy refreshes before the token is known to be expired."""

    def refresh_at(self, issued: float, expiry: float, rng: Rng) -> float:
        return expiry

    def plan(self, issued: float, expiry: float, rng: Rng) -> RefreshPlan:
        return RefreshPlan(refresh_at=expiry, mandatory_at=expiry)


@dataclass(frozen=True, slots=True)
class FixedLead:
    """Refresh `lead` seconds before expiry (google-auth, azure-identity, authlib, okta, golang)."""

    lead: float
    kind: ClassVar[Literal["fixed_lead"]] = "fixed_lead"
    proactive: ClassVar[bool] = True

    def refresh_at(self, issued: float, expiry: float, rng: Rng) -> float:
        return max(issued, expiry - self.lead)

    def plan(self, issued: float, expiry: float, rng: Rng) -> RefreshPlan:
        return RefreshPlan(refresh_at=self.refresh_at(issued, expiry, rng), mandatory_at=expiry)


@dataclass(frozen=True, slots=True)
class Fraction:
    """Refresh after `fraction` of the lifetime if it is at least `min_lifetime` (MSAL).

    Shorter lifetimes fall back on refreshing `fallback_lead` before expiry.
    """

    fraction: float = 0.5
    min_lifetime: float = 0.0
    fallback_lead: float = 0.0
    kind: ClassVar[Literal["fraction"]] = "fraction"
    proactive: ClassVar[bool] = True

    def refresh_at(self, issued: float, expiry: float, rng: Rng) -> float:
        lifetime = expiry - issued
        if lifetime >= self.min_lifetime:
            return issued + self.fraction * lifetime
        return max(issued, expiry - self.fallback_lead)

    def plan(self, issued: float, expiry: float, rng: Rng) -> RefreshPlan:
        return RefreshPlan(refresh_at=self.refresh_at(issued, expiry, rng), mandatory_at=expiry)


@dataclass(frozen=True, slots=True)
class FractionJitter:
    """Refresh at `fraction` of the lifetime minus a lead drawn in [`lead_min`, `lead_max`].

    kubelet: the last 20 % of the lifetime, minus up to 10 s; aws-sdk-java: a 5 min
    prefetch jittered down to 1 min.
    """

    fraction: float = 1.0
    lead_min: float = 0.0
    lead_max: float = 0.0
    kind: ClassVar[Literal["fraction_jitter"]] = "fraction_jitter"
    proactive: ClassVar[bool] = True

    def refresh_at(self, issued: float, expiry: float, rng: Rng) -> float:
        lead = rng.uniform(self.lead_min, self.lead_max)
        return max(issued, issued + self.fraction * (expiry - issued) - lead)

    def plan(self, issued: float, expiry: float, rng: Rng) -> RefreshPlan:
        return RefreshPlan(refresh_at=self.refresh_at(issued, expiry, rng), mandatory_at=expiry)


@dataclass(frozen=True, slots=True)
class AdvisoryMandatory:
    """botocore: try to refresh `advisory` before expiry; must succeed from `mandatory` before.

    Inside the advisory window a failed refresh keeps the old token; inside the mandatory
    window it fails the caller.
    """

    advisory: float = 900.0
    mandatory: float = 600.0
    kind: ClassVar[Literal["advisory_mandatory"]] = "advisory_mandatory"
    proactive: ClassVar[bool] = True

    def refresh_at(self, issued: float, expiry: float, rng: Rng) -> float:
        return max(issued, expiry - self.advisory)

    def plan(self, issued: float, expiry: float, rng: Rng) -> RefreshPlan:
        return RefreshPlan(
            refresh_at=self.refresh_at(issued, expiry, rng),
            mandatory_at=max(issued, expiry - self.mandatory),
        )


RefreshStrategy = Reactive | FixedLead | Fraction | FractionJitter | AdvisoryMandatory
"""Every refresh strategy the lifecycle knows."""
