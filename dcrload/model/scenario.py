"""The scenario: one validated model of a fleet, its usage, its faults and its server.

A scenario is a TOML file (see `scenarios/`); `load_scenario` validates it with pydantic and
`apply_overrides` applies `--set path=value` with the same validation. Every field says its
unit and default. Durations are written "15ms", "6h", "2d" (or bare seconds). Any problem is
raised as `UsageError` with one line naming the file, the field and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
import stat
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from dcrload.core.retry import RetryPolicy
from dcrload.core.strategies import RefreshStrategy
from dcrload.model.distributions import (
    Distribution,
    Duration,
    Exponential,
    Fixed,
    LogNormal,
    Normal,
    Uniform,
)
from dcrload.model.overrides import check_depth
from dcrload.model.policies import dump_policy, parse_refresh, parse_retry

DEFAULT_SCENARIO = Path("scenarios/default.toml")

DEFAULT_DIURNAL = (
    0.35, 0.22, 0.15, 0.12, 0.12, 0.18, 0.35, 0.60, 0.75, 0.70, 0.65, 0.70,
    0.80, 0.80, 0.75, 0.80, 0.95, 1.20, 1.60, 2.10, 2.50, 2.40, 1.70, 0.80,
)  # fmt: skip
"""Relative session starts per hour of day for a TV/streaming audience: evening prime time."""


MIN_BIN = 1.0
"""Finest time bin, seconds: finer bins cost memory and say nothing a load test can check."""

MIN_STEP = 0.001
"""Shortest duration that is a step of the simulation (API interval, token lifetime)."""

MIN_SESSIONS_PER_DAY = 0.01
"""Fewest sessions a day an app with sessions may have (the next start is searched hour by
hour: a rate of 1e-250 would take forever to find one)."""

MIN_RATE = 1e-9
"""Smallest positive rate per day (a rate of 5e-324 divided into seconds is 0)."""

MAX_WEIGHT = 1e9
"""Largest diurnal weight (only their ratios matter)."""

MAX_WORKERS = 1_000_000
"""Most server workers (each is a slot the simulated server keeps)."""

MAX_SKEW_PPM = 100_000.0
"""Largest clock-rate spread, ppm: a clock 10 % fast gains 2.4 h a day."""

MAX_FILE_BYTES = 1_000_000
"""Largest scenario file read (the shipped ones are a few kB)."""

"""Deepest nesting of tables and arrays in a scenario or a `--set` value."""


def _rate(value: float) -> float:
    """A rate per day: 0, or at least MIN_RATE."""
    if 0 < value < MIN_RATE:
        raise ValueError(f"a rate per day must be 0 or at least {MIN_RATE:g}")
    return value


Rate = Annotated[float, AfterValidator(_rate)]
"""Events per instance per day: 0 or at least `MIN_RATE`."""


class _Section(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
        allow_inf_nan=False,
    )


class ScenarioInfo(_Section):
    name: str = Field(default="scenario", pattern=r"^[A-Za-z0-9_.-]+$")
    """Names the results folder."""
    duration: Duration = Field(default=86400.0, ge=MIN_BIN)
    """Simulated time (default 1 day, at least 1 s)."""
    seed: int = Field(default=1, ge=0)
    """Every random draw of a run derives from this seed."""
    bin: Duration = Field(default=300.0, ge=MIN_BIN)
    """Width of a time bin in timeseries.csv and the plots (default 5 min, at least 1 s)."""
    description: str = ""
    """Free text, for people reading the scenario."""


class Installs(_Section):
    """New installs over time: none, a constant rate, or a launch curve (a logistic wave)."""

    kind: Literal["none", "constant", "launch"] = "none"
    """none: no installs during the run; constant: `per_day`; launch: a logistic wave."""
    per_day: Rate = Field(default=0.0, ge=0)
    """constant: installs per day."""
    total: int = Field(default=0, ge=0)
    """launch: installs in the whole wave."""
    peak_at: Duration = 43200.0
    """launch: time of the fastest installs (default 12 h)."""
    width: Duration = Field(default=7200.0, gt=0)
    """launch: logistic scale of the wave; most installs fall within ±3 widths of the peak."""


class Fleet(_Section):
    instances: int = Field(default=1000, ge=0)
    """Installed base at time 0."""
    start: Literal["warm", "cold"] = "warm"
    """warm: the installed base already holds credentials and a token of random age;
    cold: every instance of the base registers at its first launch."""
    launch_spread: Duration = Field(default=3600.0, ge=0)
    """cold always-on instances (tv, server) launch evenly over this span."""
    warm_spread: bool = True
    """warm always-on instances make their first API call at a random point of the first
    API interval (false: all at time 0, so every interval's calls fall in one second)."""
    installs: Installs = Installs()
    churn_per_day: Rate = Field(default=0.0, ge=0, le=1)
    """Share of the installed instances uninstalled per day."""


Refresh = Annotated[RefreshStrategy, BeforeValidator(parse_refresh), PlainSerializer(dump_policy)]
"""A refresh preset name or table, held as the core's strategy object."""
Retry = Annotated[RetryPolicy, BeforeValidator(parse_retry), PlainSerializer(dump_policy)]
"""A retry policy name or table, held as the core's policy object."""


class Cohort(_Section):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        use_attribute_docstrings=True,
        arbitrary_types_allowed=True,
    )

    name: str = ""
    """Names the cohort in summary.json (default cohort-<index>)."""
    share: float = Field(gt=0, le=1)
    """Share of the fleet (the shares add up to 1)."""
    platform: Literal["mobile", "tv", "server"] = "mobile"
    """mobile: nothing runs in the background; tv: background timers fire; server: always on."""
    refresh: Refresh = Field(default="azure-identity", validate_default=True)
    """A preset name ("google-auth", "msal", "botocore", ...) or a strategy table."""
    expiry_basis: Literal["expires_in", "exp"] = "expires_in"
    """expires_in: lifetime measured on the monotonic clock; exp: the `exp` claim against the
    device's wall clock."""
    retry: Retry = Field(default="full_jitter", validate_default=True)
    """After a 429, 5xx or timeout: a policy name ("none", "immediate", "fixed",
    "exponential", "full_jitter", "decorrelated_jitter") or a table with base, cap,
    attempts, honour_retry_after and budget (a share of requests)."""
    antipattern: Literal[
        "none", "reregister_on_refresh", "no_credential_store", "no_token_cache",
        "unbounded_401_loop",
    ] = "none"  # fmt: skip
    """A client mistake to model: re-register on every refresh, credentials not persisted,
    a token request per API call, or a 401 loop without limit."""
    software_id: str = "dcrload-demo"
    """The software statement the app ships with."""
    after_give_up: Literal["next_session", "keep_timer"] = "next_session"
    """tv, server: when a background refresh has used up its retries, wait for the next
    session (next_session) or keep the timer and retry again after the policy's cap
    (keep_timer)."""
    forward_device_address: bool = True
    """server: false means every instance shares one throttle bucket (X-Forwarded-For lost)."""


def _default_cohorts() -> list[Cohort]:
    return [Cohort(name="app", share=1.0)]


class Usage(_Section):
    sessions_per_day: float = Field(default=3.0, ge=0)
    """App sessions per instance per day (mobile, tv); shaped by `diurnal`; 0, or at least
    0.01 (`MIN_SESSIONS_PER_DAY`)."""
    session_length: Distribution = LogNormal(median=1500.0, sigma=0.8)
    """Length of one session (default log-normal, median 25 min)."""
    api_interval: Duration = Field(default=300.0, ge=MIN_STEP)
    """Gap between protected API calls in a session; the first comes at launch (≥ 1 ms)."""
    api_jitter: float = Field(default=0.0, ge=0, lt=1)
    """Each gap is api_interval·(1 + U(-api_jitter, api_jitter)), so phases do not lock
    after an overload (default 0: exact gaps; above 0, API calls are stepped one by one)."""
    diurnal: tuple[float, ...] = DEFAULT_DIURNAL
    """24 relative weights, hour 0 first; the mean is scaled to 1."""

    @model_validator(mode="after")
    def _day(self) -> Usage:
        if len(self.diurnal) != 24 or min(self.diurnal) < 0 or max(self.diurnal) <= 0:
            raise ValueError("diurnal needs 24 non-negative weights, not all zero")
        if max(self.diurnal) > MAX_WEIGHT:
            raise ValueError(f"diurnal weights must be at most {MAX_WEIGHT:g}")
        if 0 < self.sessions_per_day < MIN_SESSIONS_PER_DAY:
            raise ValueError(
                f"sessions_per_day must be 0 or at least {MIN_SESSIONS_PER_DAY:g}, "
                f"got {self.sessions_per_day:g}"
            )
        return self


class TokenSettings(_Section):
    ttl: Duration = Field(default=21600.0, ge=MIN_STEP)
    """Access-token lifetime (`expires_in`), default 6 h (≥ 1 ms)."""
    ttl_jitter: float = Field(default=0.0, ge=0, lt=1)
    """Server-side jitter: each token lives ttl·(1 - U(0, ttl_jitter))."""


class ClockDrift(_Section):
    """How wrong device clocks are; only the `exp` expiry basis is affected by offsets."""

    offset: Distribution = Fixed(value=0.0)
    """Wall-clock offset of an ordinary device (negative: behind)."""
    wild_fraction: float = Field(default=0.0, ge=0, le=1)
    """Share of devices whose clock is wildly wrong (the heavy tail)."""
    wild_offset: Distribution = Uniform(low=-172800.0, high=172800.0)
    """Offset of a wildly wrong clock (default uniform within ±2 days)."""
    skew_ppm_sd: float = Field(default=0.0, ge=0, le=MAX_SKEW_PPM)
    """Standard deviation of the clock rate error, parts per million (at most 100,000)."""
    steps_per_day: Rate = Field(default=0.0, ge=0)
    """Rate of step changes (manual changes, daylight-saving mistakes) per device per day."""
    step_size: Distribution = Normal(sd=3600.0)
    """Size of one step change (default normal, sd 1 h)."""


class Rollout(_Section):
    """An app update carrying a new software statement, adopted along a curve."""

    software_id: str
    """The replacement statement's software id."""
    released_at: Duration = 0.0
    """When the update is published (scenario time)."""
    curve: Literal["logistic", "stepped"] = "logistic"
    """logistic: adoption along an S-curve (`half_life`, `width`); stepped: the `steps` table."""
    half_life: Duration = Field(default=86400.0, gt=0)
    """logistic: time after release by which half the instances have updated."""
    width: Duration = Field(default=21600.0, gt=0)
    """logistic: spread of the adoption around the half-life."""
    steps: list[tuple[Duration, float]] = Field(default_factory=list)
    """stepped: (time after release, share updated by then), shares rising to at most 1."""
    final_share: float = Field(default=1.0, gt=0, le=1)
    """Share of instances that ever update."""


class Revocation(_Section):
    at: Duration = Field(ge=0)
    """When the statement is revoked (scenario time)."""
    software_id: str = "dcrload-demo"
    """The revoked statement's software id."""
    rollout: Rollout | None = None
    """The update that replaces the statement; none means blocked for good."""


class Outage(_Section):
    start: Duration = Field(ge=0)
    """When the outage begins (scenario time)."""
    duration: Duration = Field(gt=0)
    """How long it lasts."""
    mode: Literal["503", "timeout", "401"] = "503"
    """503: the server answers 503 at once; timeout: it does not answer at all; 401: the API
    rejects every access token (a botched signing-key rotation) while the DCR endpoints work."""


class Faults(_Section):
    credential_loss_per_day: Rate = Field(default=0.0, ge=0)
    """Chance per instance per day that the app's storage loses its credentials."""
    reinstall_per_day: Rate = Field(default=0.0, ge=0)
    """Chance per instance per day of an uninstall and reinstall (credentials lost)."""
    clock: ClockDrift = ClockDrift()
    revocations: list[Revocation] = Field(default_factory=list)
    outages: list[Outage] = Field(default_factory=list)


class Throttle(_Section):
    enabled: bool = False
    """Throttle per device like the real service (a token bucket)."""
    rate: float = Field(default=1.0, gt=0)
    """Requests per second per device."""
    burst: int = Field(default=10, ge=1)
    """Bucket size: requests a device may send at once."""
    retry_after: bool = False
    """Send Retry-After with 429 (the real service does not)."""


class Server(_Section):
    workers: int = Field(default=64, ge=1, le=MAX_WORKERS)
    """Requests served at once; more wait in a queue (at most 1,000,000)."""
    service_time: Distribution = Exponential(mean=0.02)
    """Time to serve one request (default exponential, mean 20 ms)."""
    timeout: Duration = Field(default=10.0, gt=0)
    """Client timeout: a request not answered in time counts as a timeout."""
    network_rtt: Duration = Field(default=0.02, ge=0)
    """Round trip between device and service, added to every answer (default 20 ms)."""
    reject_cost: float = Field(default=0.0, ge=0, le=1)
    """Share of a service time a refused DCR request (429, 503) holds a worker for
    (default 0: refusals cost the workers nothing)."""
    throttle: Throttle = Throttle()


class Paths(_Section):
    register_path: str = Field(default="/o/client/register", alias="register")
    """Client Register endpoint."""
    token: str = "/o/client/token"
    """Client Token endpoint."""
    api_prefix: str = "/api/v2/dcrload"
    """Protected API prefix, service provider included."""


class Thresholds(_Section):
    """Limits a load test must keep (k6-style); none is checked unless set.

    A breached threshold makes `dcrload loadtest` (and the locustfile) exit with status 3.
    Latencies are Locust's 95th percentiles in real milliseconds; rates are shares of the
    endpoint's requests whose outcome is not 2xx (a status, "timeout" or "error").
    """

    register_p95_ms: float | None = Field(default=None, gt=0)
    """Most the 95th-percentile Client Register latency may be, real milliseconds."""
    token_p95_ms: float | None = Field(default=None, gt=0)
    """Most the 95th-percentile Client Token latency may be, real milliseconds."""
    api_p95_ms: float | None = Field(default=None, gt=0)
    """Most the 95th-percentile protected-API latency may be, real milliseconds."""
    register_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Largest share of registrations answered other than 2xx (timeouts count)."""
    token_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Largest share of token requests answered other than 2xx (timeouts count)."""
    api_error_rate: float | None = Field(default=None, ge=0, le=1)
    """Largest share of API calls answered other than 2xx (timeouts count)."""
    expired_token_share: float | None = Field(default=None, ge=0, le=1)
    """Share of API calls sent with an access token the server found expired."""


class Registration(_Section):
    """How a load test registers against a URL (RFC 7591): `[loadtest.registration]`."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    """Client metadata merged into the registration's JSON body (RFC 7591 section 2), e.g.
    redirect_uris, scope, client_name, contacts; default none. The rfc7591 profile already
    sends grant_types ["client_credentials"] and response_types [] (an omitted
    response_types means ["code"], and then servers demand redirect_uris); software_statement
    and token_endpoint_auth_method may not be set here."""
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post"] | None = None
    """How the client authenticates at the token endpoint, sent in the registration body
    too. Default: client_secret_basic for rfc7591 (or what RFC 8414 metadata supports),
    client_secret_post for adobe-pass."""
    initial_access_token: str | None = None
    """Sent as "Authorization: Bearer" on registration (RFC 7591 section 3) when the
    server requires one. Default: the DCRLOAD_INITIAL_ACCESS_TOKEN environment variable,
    else none (keep secrets out of shared scenario files)."""
    scope: str | None = None
    """The scope parameter of the token request (space-separated); default none (the
    server's default scope)."""

    @model_validator(mode="after")
    def _metadata(self) -> Registration:
        import json

        from dcrload.core.wire import RESERVED_METADATA  # core: below the model, no circle

        reserved = sorted(set(self.metadata) & set(RESERVED_METADATA))
        if reserved:
            raise ValueError(
                f"metadata may not set {', '.join(reserved)} (the statement comes from the "
                "app; use registration.token_endpoint_auth_method)"
            )
        try:
            json.dumps(self.metadata, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ValueError(f"metadata must be plain JSON values ({error})") from None
        return self


class LoadTest(_Section):
    time_scale: float = Field(default=60.0, ge=0.001, le=1e6)
    """Simulated seconds per real second in a load test (against a real URL: 1 unless
    `dcrload loadtest --time-scale` insists)."""
    max_instances: int = Field(default=200, ge=1)
    """Cap on the instances a load test plays; installs are scaled by the same factor."""
    profile: Literal["adobe-pass", "rfc7591"] = "adobe-pass"
    """Wire format: the Adobe Pass service or a generic RFC 7591 server."""
    paths: Paths = Paths()
    """Endpoint paths; against a URL with the rfc7591 profile, the fields not set here are
    taken from the server's RFC 8414 metadata when it publishes any (else /register,
    /token)."""
    registration: Registration = Registration()
    api: str = "mock"
    """Where protected API calls go: "mock" (the mock's routes under `paths.api_prefix`),
    a URL template of your own resource server ("https://rs.example.com/v1/{route}";
    {service_provider} is filled in too), or "none" (a bare authorization server: no API
    request is sent, tokens are still fetched on the scenario's schedule)."""
    device_headers: bool | None = None
    """Send Adobe Pass's device headers (X-Device-Info, AP-Device-Identifier). Default: on
    for adobe-pass, off for rfc7591."""
    service_provider: str | None = None
    """Service provider of the API routes (default: the last segment of
    `paths.api_prefix` when it is not a version, else "dcrload")."""
    forward_for: bool | None = None
    """Send each device's own X-Forwarded-For (the real service throttles per device by
    it). Default: on against the mock, off against a URL."""
    instances_per_user: int = Field(default=50, ge=1)
    """Active app instances per Locust user (users are concurrency, not instances)."""
    min_users: int = Field(default=2, ge=1)
    """Locust users per worker process, at the least."""
    tolerance: float = Field(default=0.10, gt=0)
    """Prediction check: largest relative error of an endpoint's total request count."""
    slack: int = Field(default=3, ge=0)
    """Prediction check: an absolute difference this small always passes (tiny counts)."""
    thresholds: Thresholds = Thresholds()

    @model_validator(mode="after")
    def _api(self) -> LoadTest:
        from dcrload.core.wire import check_api  # core: below the model, no circle

        check_api(self.api)
        return self


class Scenario(_Section):
    """Everything one run needs; `source` is the file it came from (for messages)."""

    scenario: ScenarioInfo = ScenarioInfo()
    fleet: Fleet = Fleet()
    cohorts: list[Cohort] = Field(default_factory=_default_cohorts, min_length=1)
    usage: Usage = Usage()
    token: TokenSettings = TokenSettings()
    faults: Faults = Faults()
    server: Server = Server()
    loadtest: LoadTest = LoadTest()

    @model_validator(mode="after")
    def _shares(self) -> Scenario:
        total = sum(c.share for c in self.cohorts)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"cohort shares must add up to 1, they add up to {total:g}")
        names = [c.name or f"cohort-{i}" for i, c in enumerate(self.cohorts)]
        if len(set(names)) != len(names):
            raise ValueError(f"cohort names must differ, got {', '.join(names)}")
        return self

    @property
    def name(self) -> str:
        return self.scenario.name

    def software_ids(self) -> list[str]:
        """Every software id the scenario uses: its cohorts', revoked and replacement ones."""
        ids = {cohort.software_id for cohort in self.cohorts}
        for revocation in self.faults.revocations:
            ids.add(revocation.software_id)
            if revocation.rollout is not None:
                ids.add(revocation.rollout.software_id)
        return sorted(ids)


_TAGS = {"fixed", "exponential", "lognormal", "uniform", "normal"}


def _field_path(location: tuple[Any, ...]) -> str:
    """The dotted path a user writes: list indices kept, pydantic's internal steps (model
    names, distribution tags, validator wrappers) dropped."""
    parts = [str(p) for p in location if not (isinstance(p, str) and p[:1].isupper())]
    parts = [p for p in parts if p not in _TAGS and not p.startswith("function-")]
    return ".".join(parts) or "(top level)"


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, Annotated, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for inner in typing.get_args(annotation):
        found += _models(inner)
    return found


def _fields_at(location: tuple[Any, ...]) -> list[str]:
    """The field names a user may write in the table that holds `location`'s last step."""
    models: list[type[BaseModel]] = [Scenario]
    for part in location[:-1]:
        if not isinstance(part, str):
            continue
        inner = [
            m
            for model in models
            if part in model.model_fields
            for m in _models(model.model_fields[part].annotation)
        ]
        tagged = [m for m in models if part == _tag(m)]
        models = inner or tagged or models
    names: list[str] = []
    for model in models:
        for name, info in model.model_fields.items():
            key = info.alias or name
            if key not in names:
                names.append(key)
    return names


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("dist")
    return field.default if field is not None else None


def _did_you_mean(given: str, known: list[str]) -> str:
    match = difflib.get_close_matches(given, known, n=1, cutoff=0.6)
    return match[0] if match else ""


def _expected_names(message: str) -> list[str]:
    """The names an "unknown ..." message lists ("...; presets: a, b, c"), for did-you-mean."""
    _, sep, listed = message.rpartition(": ")
    return [n.strip() for n in listed.split(",")] if sep and "," in listed else []


_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}
_TYPES = {
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a quoted string",
    "model_type": "a table",
    "dict_type": "a table",
    "model_attributes_type": "a table",
    "list_type": "a list",
    "tuple_type": "a list",
}


def describe(error: ValidationError) -> str:
    """The first problem, in the user's words: "field: what was expected, got what"."""
    first = error.errors()[0]
    kind, location = first["type"], first["loc"]
    path = _field_path(location)
    given = first.get("input")
    got = f", got {given!r}" if isinstance(given, str | int | float | bool) else ""
    ctx = first.get("ctx") or {}
    if kind == "extra_forbidden":
        name = str(location[-1])
        known = _fields_at(location)
        prefix = path.rpartition(".")[0]
        guess = _did_you_mean(name, known)
        if guess:
            return (
                f"unknown field `{path}`; did you mean `{prefix + '.' if prefix else ''}{guess}`?"
            )
        where = f"`{prefix}`" if prefix else "the top level"
        return f"unknown field `{path}`; {where} takes {', '.join(known)}"
    if kind == "missing":
        return f"{path}: required, and missing"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", '"')
        options = [o.strip(' "') for o in re.split(r",| or ", expected) if o.strip(' "')]
        guess = _did_you_mean(str(given), options) if isinstance(given, str) else ""
        hint = f"; did you mean {guess!r}?" if guess else ""
        return f"{path}: expected {expected}{got}{hint}"
    if kind == "union_tag_invalid":
        tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        tag = str(ctx.get("tag", ""))
        guess = _did_you_mean(tag, tags)
        hint = f"; did you mean {guess!r}?" if guess else ""
        return (
            f"{path}: unknown distribution dist = {tag!r}; expected one of {', '.join(tags)}{hint}"
        )
    if kind in _BOUNDS:
        words, key = _BOUNDS[kind]
        bound = ctx.get(key)
        shown = f"{bound:g}" if isinstance(bound, int | float) else bound
        return f"{path}: expected a number {words} {shown}{got}"
    if kind in _TYPES:
        return f"{path}: expected {_TYPES[kind]}{got}"
    if kind == "string_pattern_mismatch":
        return f"{path}: expected letters, digits, '_', '.' or '-' only{got}"
    message = first["msg"].removeprefix("Value error, ")
    if kind != "value_error" and got and str(given) not in message:
        message += got
    names = _expected_names(message) if message.startswith("unknown") else []
    if isinstance(given, str) and names:
        guess = _did_you_mean(given, names)
        if guess:
            message = message.replace(f"{given!r};", f"{given!r} (did you mean {guess!r}?);", 1)
    return f"{path}: {message}"


def validate(
    data: dict[str, Any],
    source: str,
    blame: list[tuple[str, str]] | None = None,
    *,
    budget: bool = True,
) -> Scenario:
    """Validate a scenario dict; raise UsageError("<source>: <field>: <expected>").

    `blame` holds (override text, the dotted path it set): a problem inside a field an
    override set is blamed on that override ("--set fleet.instances=abc: ..."), not on
    the file. Every number must be finite, wherever it sits (a strategy or distribution
    table too). With `budget`, a run that cannot finish on this machine is refused as well
    (`dcrload.model.estimate.check_budget`); a load test checks its scaled scenario instead.
    """
    from dcrload.core.errors import UsageError

    check_depth(data, source)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        where = _blame(error, blame or []) or source
        raise UsageError(f"{where}: {describe(error)}") from None
    except RecursionError:
        raise UsageError(f"{source}: nested too deeply") from None
    bad = _first_non_finite(scenario.model_dump(by_alias=True))
    if bad is not None:
        where, value = bad
        raise UsageError(f"{source}: {where}: expected a finite number, got {value}")
    if budget:
        from dcrload.model.estimate import check_budget

        check_budget(scenario, source)
    return scenario


def _first_non_finite(value: Any, where: str = "") -> tuple[str, float] | None:
    """The dotted path and value of the first inf or NaN inside `value`, if any."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (where or "(top level)", value)
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _first_non_finite(item, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _blame(error: ValidationError, blame: list[tuple[str, str]]) -> str:
    path = _field_path(error.errors()[0]["loc"])
    for text, target in reversed(blame):
        if path == target or path.startswith(target + ".") or target.startswith(path + "."):
            return f"--set {text}"
    return ""


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML of a scenario file; raise UsageError for anything that is not one.

    Only a regular file is read (a FIFO or a device would block or never end), of at most
    `MAX_FILE_BYTES`, as UTF-8 text, nested at most `MAX_DEPTH` deep.
    """
    from dcrload.core.errors import UsageError

    try:
        info = path.stat()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such scenario file") from None
    if stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: is a directory, expected a scenario file")
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path}: not a regular file, expected a scenario file")
    if info.st_size > MAX_FILE_BYTES:
        raise UsageError(
            f"{path}: {info.st_size:,} bytes, more than the {MAX_FILE_BYTES:,} a scenario may have"
        )
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, expected a scenario file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{path}: not UTF-8 text (byte 0x{raw[error.start]:02x} at offset {error.start})"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UsageError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:
        raise UsageError(f"{path}: tables or arrays nested too deeply") from None
    check_depth(data, str(path))
    return data


def load_scenario(
    path: str | Path = DEFAULT_SCENARIO, overrides: list[str] | None = None, *, budget: bool = True
) -> Scenario:
    """Read, override and validate a scenario file; bad input raises UsageError.

    `budget`: also refuse a run that cannot finish here (see `validate`)."""
    from dcrload.model.overrides import apply_traced

    path = Path(path)
    data = read_toml(path)
    blame: list[tuple[str, str]] = []
    if overrides:
        data, blame = apply_traced(data, overrides)
    return validate(data, str(path), blame, budget=budget)


def scenario_data(path: str | Path) -> dict[str, Any]:
    """The raw TOML of a scenario, for sweeps that vary fields before validating."""
    return read_toml(Path(path))
