"""The scenario's refresh strategies and retry policies: presets, tables, validation.

A cohort says `refresh = "google-auth"` or `refresh = {kind = "fixed_lead", lead = "5m"}`,
and `retry = "full_jitter"` or a table. The pydantic specs here validate that (durations
as "15ms", "6h"; ranges) and build the plain objects of the sans-IO core
(`dcrload.core.strategies`, `dcrload.core.retry`), which is what a `Cohort` holds;
`dump_policy` turns such an object back into its table, for run keys and reports.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from dcrload.core import retry as core_retry
from dcrload.core import strategies as core
from dcrload.core.retry import RETRY_KINDS, RetryPolicy
from dcrload.core.strategies import RefreshStrategy
from dcrload.model.distributions import Duration


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- refresh


class ReactiveSpec(_Spec):
    """Refresh only once the token is known to be expired or an API call got 401."""

    kind: Literal["reactive"] = "reactive"

    def build(self) -> RefreshStrategy:
        return core.Reactive()


class FixedLeadSpec(_Spec):
    """Refresh `lead` before expiry."""

    kind: Literal["fixed_lead"] = "fixed_lead"
    lead: Duration = Field(ge=0)

    def build(self) -> RefreshStrategy:
        return core.FixedLead(lead=self.lead)


class FractionSpec(_Spec):
    """Refresh after `fraction` of the lifetime if it is at least `min_lifetime`, else
    `fallback_lead` before expiry."""

    kind: Literal["fraction"] = "fraction"
    fraction: float = Field(gt=0, le=1, default=0.5)
    min_lifetime: Duration = Field(ge=0, default=0.0)
    fallback_lead: Duration = Field(ge=0, default=0.0)

    def build(self) -> RefreshStrategy:
        return core.Fraction(self.fraction, self.min_lifetime, self.fallback_lead)


class FractionJitterSpec(_Spec):
    """Refresh at `fraction` of the lifetime minus a lead drawn in [`lead_min`, `lead_max`]."""

    kind: Literal["fraction_jitter"] = "fraction_jitter"
    fraction: float = Field(gt=0, le=1, default=1.0)
    lead_min: Duration = Field(ge=0, default=0.0)
    lead_max: Duration = Field(ge=0, default=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> FractionJitterSpec:
        if self.lead_max < self.lead_min:
            raise ValueError("lead_max must be at least lead_min")
        return self

    def build(self) -> RefreshStrategy:
        return core.FractionJitter(self.fraction, self.lead_min, self.lead_max)


class AdvisoryMandatorySpec(_Spec):
    """Try to refresh `advisory` before expiry; must succeed from `mandatory` before."""

    kind: Literal["advisory_mandatory"] = "advisory_mandatory"
    advisory: Duration = Field(ge=0, default=900.0)
    mandatory: Duration = Field(ge=0, default=600.0)

    @model_validator(mode="after")
    def _ordered(self) -> AdvisoryMandatorySpec:
        if self.mandatory > self.advisory:
            raise ValueError("the mandatory window must not be longer than the advisory one")
        return self

    def build(self) -> RefreshStrategy:
        return core.AdvisoryMandatory(self.advisory, self.mandatory)


RefreshSpec = Annotated[
    ReactiveSpec | FixedLeadSpec | FractionSpec | FractionJitterSpec | AdvisoryMandatorySpec,
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

_REFRESH: TypeAdapter[Any] = TypeAdapter(RefreshSpec)


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


def parse_refresh(value: Any) -> RefreshStrategy:
    """A preset name, a table or a built strategy → the core strategy (ValueError if bad)."""
    if isinstance(value, core.Reactive | core.FixedLead | core.Fraction):
        return value
    if isinstance(value, core.FractionJitter | core.AdvisoryMandatory):
        return value
    spec = _validated(_REFRESH, resolve_refresh(value))
    built: RefreshStrategy = spec.build()
    return built


# --------------------------------------------------------------------------- retry


class _RetrySpec(_Spec):
    honour_retry_after: bool = False
    """Wait at least the server's Retry-After when it sends one."""
    budget: float | None = Field(default=None, gt=0, le=1)
    """Retries at most this share of requests (Google SRE's retry budget); None: no budget."""


class NoRetrySpec(_RetrySpec):
    """Give up at the first failure."""

    kind: Literal["none"] = "none"

    def build(self) -> RetryPolicy:
        return core_retry.NoRetry(self.honour_retry_after, self.budget)


class ImmediateSpec(_RetrySpec):
    """Retry at once, up to `attempts` times."""

    kind: Literal["immediate"] = "immediate"
    attempts: int = Field(ge=1, default=1000)

    def build(self) -> RetryPolicy:
        return core_retry.Immediate(self.honour_retry_after, self.budget, self.attempts)


class FixedDelaySpec(_RetrySpec):
    """Wait `delay` between attempts."""

    kind: Literal["fixed"] = "fixed"
    wait: Duration = Field(alias="delay", default=5.0, ge=0)
    attempts: int = Field(ge=1, default=5)

    def build(self) -> RetryPolicy:
        return core_retry.FixedDelay(self.honour_retry_after, self.budget, self.wait, self.attempts)


class _BackoffSpec(_RetrySpec):
    base: Duration = Field(default=1.0, gt=0)
    cap: Duration = Field(default=300.0, gt=0)
    attempts: int = Field(ge=1, default=8)


class ExponentialSpec(_BackoffSpec):
    """Wait base·2^(attempt-1), capped."""

    kind: Literal["exponential"] = "exponential"

    def build(self) -> RetryPolicy:
        return core_retry.Exponential(
            self.honour_retry_after, self.budget, self.base, self.cap, self.attempts
        )


class FullJitterSpec(_BackoffSpec):
    """Wait uniformly in [0, min(cap, base·2^(attempt-1))]."""

    kind: Literal["full_jitter"] = "full_jitter"

    def build(self) -> RetryPolicy:
        return core_retry.FullJitter(
            self.honour_retry_after, self.budget, self.base, self.cap, self.attempts
        )


class DecorrelatedJitterSpec(_BackoffSpec):
    """Wait uniformly in [base, 3·previous wait], capped."""

    kind: Literal["decorrelated_jitter"] = "decorrelated_jitter"

    def build(self) -> RetryPolicy:
        return core_retry.DecorrelatedJitter(
            self.honour_retry_after, self.budget, self.base, self.cap, self.attempts
        )


RetrySpec = Annotated[
    NoRetrySpec
    | ImmediateSpec
    | FixedDelaySpec
    | ExponentialSpec
    | FullJitterSpec
    | DecorrelatedJitterSpec,
    Field(discriminator="kind"),
]
"""A policy table such as `{kind = "full_jitter", base = "1s", cap = "5m"}`, or a kind name."""

_RETRY: TypeAdapter[Any] = TypeAdapter(RetrySpec)
_RETRY_TYPES = (
    core_retry.NoRetry,
    core_retry.Immediate,
    core_retry.FixedDelay,
    core_retry.Exponential,
    core_retry.FullJitter,
    core_retry.DecorrelatedJitter,
)


def resolve_retry(value: Any) -> Any:
    """Let a scenario say `retry = "full_jitter"` for the policy with its defaults."""
    if isinstance(value, str):
        if value not in RETRY_KINDS:
            raise ValueError(f"unknown retry policy {value!r}; policies: {', '.join(RETRY_KINDS)}")
        return {"kind": value}
    return value


def parse_retry(value: Any) -> RetryPolicy:
    """A policy name, a table or a built policy → the core policy (ValueError if bad)."""
    if isinstance(value, _RETRY_TYPES):
        return value
    spec = _validated(_RETRY, resolve_retry(value))
    built: RetryPolicy = spec.build()
    return built


def _validated(adapter: TypeAdapter[Any], value: Any) -> Any:
    """Validate a table; the first problem becomes one ValueError ("lead: ...")."""
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:] if not isinstance(p, int))
        message = first["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where}: {message}" if where else message) from None


# --------------------------------------------------------------------------- dumping


def dump_policy(policy: Any) -> dict[str, Any]:
    """A core strategy or policy as the table that builds it (`kind` first)."""
    table: dict[str, Any] = {"kind": policy.kind}
    for item in dataclasses.fields(policy):
        name = "delay" if item.name == "wait" else item.name
        table[name] = getattr(policy, item.name)
    return table
