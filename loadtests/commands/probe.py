"""`dcrload probe`: run one app instance's lifecycle against a DCR service and check it.

The probe is a third driver of `dcrload.core.lifecycle.AppInstance` (after the SimPy fleet and
the Locust user): the lifecycle decides (register, fetch a token, call the API, refresh),
`dcrload.core.wire` maps each action to a request and the answer back to an event, and one
`httpx.Client` performs it. Along the way every answer is checked against the profile:
statuses, fields, ``Cache-Control: no-store``, ``exp - iat == expires_in``, a refresh that
reuses the cached credentials (one registration in all), a tampered token refused, and,
when the TTL is short enough to wait for (``--wait-expiry``), the expired token refused.
It also registers once with a broken software statement and expects a refusal (a server
that accepts it does not verify statements: a finding), and, when the server publishes
RFC 8414 metadata with a ``jwks_uri``, verifies the access token's signature with it (and,
for an RFC 9068 ``at+jwt`` token, its required claims, ``client_id`` and ``iss``).

With the rfc7591 profile the probe first reads the server's RFC 8414 metadata
(`loadtests.discovery`): the registration and token endpoints and a supported
token-endpoint auth method come from it unless ``--paths`` / ``--token-auth`` say
otherwise. ``--metadata`` adds client metadata to the registration body,
``--initial-access-token-file`` (or ``DCRLOAD_INITIAL_ACCESS_TOKEN``) sends an initial
access token, ``--scope`` asks for a scope at the token endpoint.

Every failed check that the server answered is explained below the table with the
server's status and its ``error`` / ``error_description``.

To refresh without waiting hours, the probe fast-forwards its driver clock to the refresh
time the lifecycle planned: the lifecycle reads no clock, so it cannot tell, and the server
is asked for a second token right away with the same credentials.

Exit status: 0 when every check passes; 1 when the server answered but does not conform
(any failed check); 2 for bad input; 3 (`EXIT_UNREACHABLE`) when the target cannot be
connected to at all (refused, no route, connect timeout) — nothing was checked.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import jwt

from dcrload.core.actions import (
    ApiCallDue,
    AppLaunched,
    CallApi,
    FetchToken,
    Register,
    RequestAction,
    Response,
)
from dcrload.core.errors import UsageError
from dcrload.core.lifecycle import AppInstance, InstanceConfig, jwt_claims
from dcrload.core.strategies import Fraction
from dcrload.core.wire import (
    DEFAULT_PATHS,
    PROFILES,
    TOKEN_AUTH_METHODS,
    Device,
    WireProfile,
    device_info_for,
    parse_paths,
    to_response,
)
from dcrload.model.scenario import load_scenario
from loadtests.discovery import Discovery, Unreachable, discover
from loadtests.options import INITIAL_ACCESS_TOKEN_ENV, explicit_paths, wire_profile

NAME = "probe"
HELP = "Run one app instance's lifecycle against a DCR service and print a conformance table."

EXIT_DEVIATION = 1
EXIT_UNREACHABLE = 3
MAX_WAIT_EXPIRY = 600.0
JWKS_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
                   "ES512", "EdDSA")  # fmt: skip
"""Signature algorithms accepted when verifying through ``jwks_uri``: asymmetric only."""
RFC9068_CLAIMS = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
"""The claims RFC 9068 section 2.2 requires in a JWT access token."""
EXP_TOLERANCE = 1  # seconds allowed between exp - iat and expires_in (rounding)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument(
        "--software-statement",
        required=True,
        type=Path,
        metavar="FILE",
        help="a file holding the software statement (JWT)",
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        metavar="FILE",
        help="take the profile, paths, [loadtest.registration], api and device_headers from "
        "this scenario's [loadtest] (the flags below win)",
    )
    parser.add_argument(
        "--profile", choices=PROFILES, help="wire format (default: the scenario's, else adobe-pass)"
    )
    parser.add_argument("--paths", default="", help="register=/r,token=/t,api_prefix=/api/v2")
    parser.add_argument("--service-provider", help="service provider of the API routes")
    parser.add_argument(
        "--token-auth",
        choices=TOKEN_AUTH_METHODS,
        help="token endpoint auth method (default: client_secret_post for adobe-pass; for "
        "rfc7591 client_secret_basic or what the server's RFC 8414 metadata supports)",
    )
    parser.add_argument(
        "--metadata",
        default="",
        metavar="JSON|@FILE",
        help='client metadata merged into the registration body, e.g. \'{"redirect_uris": '
        '["https://app/cb"]}\' or @metadata.json',
    )
    parser.add_argument(
        "--initial-access-token-file",
        type=Path,
        metavar="FILE",
        help=f"initial access token sent on registration (RFC 7591 section 3); default "
        f"${INITIAL_ACCESS_TOKEN_ENV}",
    )
    parser.add_argument("--scope", help="scope of the token request")
    parser.add_argument(
        "--api",
        metavar="mock|none|URL",
        help="where the API checks go: 'mock' (routes under api_prefix), 'none', or a URL "
        "template of your resource server, e.g. 'https://rs.example.com/v1/{route}' "
        "(default: mock for adobe-pass; for rfc7591 none unless --paths names an api_prefix)",
    )
    parser.add_argument("--no-api", action="store_true", help="the same as --api none")
    parser.add_argument(
        "--device-headers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="send X-Device-Info and AP-Device-Identifier (default: adobe-pass only)",
    )
    parser.add_argument(
        "--wait-expiry",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"wait up to this long (at most {MAX_WAIT_EXPIRY:g}) for the token "
        "to expire and check the API refuses it",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout (s)")


@dataclass
class Check:
    name: str
    expected: str
    got: str
    result: str  # "pass", "fail" or "skip"
    detail: str = ""
    """What the server said, for a failed check it answered: status, error, description."""


class TargetUnreachable(Exception):
    """No connection could be made: the probe stops, nothing about conformance is known."""


SNIPPET = 160


def server_said(status: int, body: Any, text: str = "") -> str:
    """``HTTP 400 invalid_client_metadata: contacts is required``, or the first characters of
    an error body that is not an OAuth error. A 2xx body may hold secrets: only its field
    names are shown."""
    said = f"HTTP {status}"
    if 200 <= status < 300:
        fields = ", ".join(sorted(body)) if isinstance(body, dict) and body else "no JSON fields"
        return f"{said} ({fields})"
    error = body.get("error") if isinstance(body, dict) else None
    description = body.get("error_description") if isinstance(body, dict) else None
    if error:
        said += f" {error}"
    if description:
        said += f": {description}"
    if not error and not description:
        snippet = " ".join(text.split())[:SNIPPET]
        said += f", body {snippet!r}" if snippet else ", empty body"
    return said


class Probe:
    """Drives one `AppInstance` over HTTP and records checks."""

    def __init__(
        self,
        client: httpx.Client,
        wire: WireProfile,
        statement: str,
        api: bool,
        discovery: Discovery | None = None,
    ) -> None:
        self.client = client
        self.wire = wire
        self.api = api
        self.discovery = discovery
        self.statement = statement
        self.checks: list[Check] = []
        self.said: list[tuple[Response, str]] = []
        claims = jwt_claims(statement)
        self.software_id = str(claims.get("software_id", "unknown"))
        device_id = "dcrload-probe-" + secrets.token_hex(6)
        self.device = Device(device_id, device_info_for(device_id))
        self.start = time.monotonic()
        self.instance = AppInstance(
            InstanceConfig(refresh=Fraction(fraction=0.5), epoch=time.time()),
            statement,
            self.software_id,
            rng=random.Random(0),
        )
        self.registrations = 0

    # ------------------------------------------------------------------ helpers

    def check(
        self, name: str, expected: str, got: Any, ok: bool | None, answer: Response | None = None
    ) -> bool:
        """Record a check; a failed one on `answer` keeps what the server said."""
        result = "skip" if ok is None else ("pass" if ok else "fail")
        detail = self.explain(answer) if answer is not None and result == "fail" else ""
        self.checks.append(Check(name, expected, str(got), result, detail))
        return bool(ok)

    def explain(self, answer: Response) -> str:
        text = next((t for r, t in self.said if r is answer), "")
        return server_said(answer.status, answer.body, text)

    def now(self) -> float:
        return time.monotonic() - self.start

    def send(self, action: RequestAction) -> Response | None:
        request = self.wire.request(action, self.device)
        try:
            answer = self.client.request(
                request.method, request.path, headers=request.headers, content=request.body
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise TargetUnreachable(f"{type(error).__name__}: {error}") from None
        except httpx.HTTPError as error:
            self.check(
                f"{type(action).__name__} answered", "an HTTP answer", type(error).__name__, False
            )
            return None
        response = to_response(answer.status_code, answer.headers.items(), answer.content)
        self.said.append((response, answer.content[:1024].decode("utf-8", "replace")))
        return response

    def step(self, now: float, expected: type) -> tuple[Any, Response | None]:
        """Ask the lifecycle for its next action, check its kind, perform it, feed back."""
        action = self.instance.next_action(now)
        if isinstance(action, Register):
            self.registrations += 1
        if not isinstance(action, expected):
            self.check(
                f"lifecycle asks {expected.__name__}",
                expected.__name__,
                type(action).__name__,
                False,
            )
            if isinstance(action, Register | FetchToken | CallApi):  # answer it all the same
                response = self.send(action)
                if response is not None:
                    self.instance.handle(response, now)
            return action, None
        response = self.send(action)
        if response is not None:
            self.instance.handle(response, now)
        return action, response

    # ------------------------------------------------------------------ the run

    def run(self, wait_expiry: float) -> list[Check]:
        self.instance.handle(AppLaunched(), 0.0)
        self.instance.handle(ApiCallDue("configuration"), 0.0)
        _, registered = self.step(self.now(), Register)
        if registered is None or not self.check_register(registered):
            return self.checks
        self.check_broken_statement()
        action, issued = self.step(self.now(), FetchToken)
        if issued is None or not self.check_token("token", issued, action):
            return self.checks
        first_token = str(issued.body["access_token"])
        self.check_signature(first_token)
        if self.api:
            _, called = self.step(self.now(), CallApi)
            if called is not None:
                self.check("api call", "200", called.status, called.status == 200, called)
            self.check_profiles(first_token)
            self.check_tampered(first_token)

        # refresh: fast-forward the driver clock to the planned refresh time
        later = max(self.instance.usable_until(self.now()), self.now()) + 1e-3
        self.instance.handle(ApiCallDue("configuration"), later)
        client_id = self.instance.credentials.client_id if self.instance.credentials else None
        action, refreshed = self.step(later, FetchToken)
        self.check(
            "refresh uses cached credentials",
            "FetchToken, same client_id",
            f"{type(action).__name__}",
            isinstance(action, FetchToken) and action.client_id == client_id,
        )
        if refreshed is not None and self.check_token("refresh", refreshed, action):
            token = str(refreshed.body["access_token"])
            self.check(
                "refresh gives a new token",
                "a different access_token",
                "different" if token != first_token else "the same",
                token != first_token,
            )
            if self.api:
                _, called = self.step(later, CallApi)
                if called is not None:
                    ok = called.status == 200
                    self.check("api call after refresh", "200", called.status, ok, called)
            self.check_expiry(token, refreshed, wait_expiry)
        self.check("registrations", "1", self.registrations, self.registrations == 1)
        return self.checks

    # ------------------------------------------------------------------ checks

    def check_register(self, response: Response) -> bool:
        ok_statuses = sorted(self.wire.register_ok)
        ok = self.check(
            "register status",
            " or ".join(map(str, ok_statuses)),
            response.status,
            response.status in self.wire.register_ok,
            response,
        )
        body = response.body
        has = all(
            isinstance(body.get(k), str) and body.get(k) for k in ("client_id", "client_secret")
        )
        ok &= self.check(
            "register fields",
            "client_id, client_secret",
            ", ".join(sorted(body)) or "(none)",
            has,
            response,
        )
        if has:
            secret = str(body["client_secret"])
            self.check(
                "client secret length",
                ">= 22 characters (128 bits)",
                len(secret),
                len(secret) >= 22,
            )
        if self.wire.name == "adobe-pass":
            issued = body.get("client_id_issued_at")
            self.check(
                "client_id_issued_at",
                "an integer",
                issued,
                isinstance(issued, int) and not isinstance(issued, bool),
            )
        elif has:
            # RFC 7591 section 3.2.1: the server returns what it registered, and may have
            # replaced a value; a replaced auth method breaks every token request.
            method = body.get("token_endpoint_auth_method")
            self.check(
                "registered auth method",
                self.wire.token_auth,
                method if method is not None else "(not returned)",
                None if method is None else method == self.wire.token_auth,
                response,
            )
        return ok and self.instance.credentials is not None

    def check_token(self, label: str, response: Response, action: Any) -> bool:
        ok = self.check(
            f"{label} status",
            " or ".join(map(str, sorted(self.wire.token_ok))),
            response.status,
            response.status in self.wire.token_ok,
            response,
        )
        body = response.body
        fields = ["access_token", "token_type", "expires_in"]
        if self.wire.name == "adobe-pass":
            fields += ["created_at", "id"]
        missing = [f for f in fields if f not in body]
        ok &= self.check(
            f"{label} fields",
            ", ".join(fields),
            "missing " + ", ".join(missing) if missing else "all present",
            not missing,
            response,
        )
        token_type = str(body.get("token_type", ""))
        self.check(
            f"{label} token_type", "bearer", token_type or "(none)", token_type.lower() == "bearer"
        )
        expires_in = body.get("expires_in")
        good_ttl = (
            isinstance(expires_in, int) and not isinstance(expires_in, bool) and expires_in > 0
        )
        ok &= self.check(f"{label} expires_in", "a positive integer (s)", expires_in, good_ttl)
        cache = response.headers.get("cache-control", "")
        self.check(f"{label} Cache-Control", "no-store", cache or "(none)", "no-store" in cache)
        if self.wire.name == "adobe-pass" and "created_at" in body:
            created = body["created_at"]
            near = isinstance(created, int | float) and abs(created / 1000 - time.time()) < 300
            self.check(f"{label} created_at", "now, in ms", created, near)
        claims = jwt_claims(str(body.get("access_token", "")))
        if claims and good_ttl:
            exp, iat = claims.get("exp"), claims.get("iat")
            if isinstance(exp, int | float) and isinstance(iat, int | float):
                life = exp - iat
                self.check(
                    f"{label} exp - iat",
                    f"expires_in = {expires_in}",
                    f"{life:g}",
                    abs(life - expires_in) <= EXP_TOLERANCE,
                )
            else:
                self.check(f"{label} exp - iat", "exp and iat claims", "missing", False)
            if self.wire.name == "adobe-pass" and isinstance(action, FetchToken):
                self.check(
                    f"{label} sub",
                    "the client_id",
                    claims.get("sub"),
                    claims.get("sub") == action.client_id,
                )
        else:
            self.check(f"{label} exp - iat", "a JWT access token", "opaque or no TTL", None)
        return ok and self.instance.token is not None

    def check_broken_statement(self) -> None:
        """Register with the statement's signature damaged: a verifying server refuses."""
        name = "broken statement refused"
        if not self.statement:
            self.check(name, "a 4xx refusal", "no statement sent (open registration)", None)
            return
        broken = _damaged(self.statement)
        response = self.send(Register(broken, self.software_id))
        if response is None:
            return
        refused = 400 <= response.status < 500
        error = response.body.get("error", "") if isinstance(response.body, dict) else ""
        got = f"{response.status} {error}".strip()
        if not refused and response.status in self.wire.register_ok:
            got = f"{response.status}: statement not verified"
        self.check(name, "a 4xx refusal (invalid_software_statement)", got, refused, response)

    def check_signature(self, token: str) -> None:
        """Verify the access token with the key the server publishes at ``jwks_uri``."""
        name = "token signature (jwks_uri)"
        jwks_uri = self.discovery.jwks_uri if self.discovery is not None else None
        if self.wire.name != "rfc7591":
            return
        if jwks_uri is None:
            self.check(name, "verified with the published key", "no jwks_uri published", None)
            return
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            self.check(name, "verified with the published key", "opaque token", None)
            return
        try:
            answer = self.client.get(jwks_uri, headers={"Accept": "application/json"})
            keys = answer.json().get("keys", []) if answer.status_code == 200 else []
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            self.check(name, "a JWKS at jwks_uri", type(error).__name__, False)
            return
        kid, alg = header.get("kid"), header.get("alg")
        if alg not in JWKS_ALGORITHMS:
            self.check(name, f"one of {', '.join(JWKS_ALGORITHMS)}", f"alg {alg}", False)
            return
        matching = [k for k in keys if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
        if not matching:
            self.check(name, f"a key with kid {kid} in the JWKS", "no such key", False)
            return
        try:
            key = jwt.PyJWK(matching[0], algorithm=alg)
            claims = jwt.decode(token, key.key, algorithms=[alg], options={"verify_aud": False})
        except jwt.PyJWTError as error:
            self.check(name, "verified with the published key", str(error) or "invalid", False)
            return
        typ = header.get("typ", "(none)")
        self.check(name, "verified with the published key", f"verified, kid {kid}, typ {typ}", True)
        if str(typ).lower() in ("at+jwt", "application/at+jwt"):
            self.check_rfc9068(claims)

    def check_rfc9068(self, claims: dict[str, Any]) -> None:
        """An ``at+jwt`` token keeps RFC 9068's promises: its claims, our client, the issuer."""
        missing = [c for c in RFC9068_CLAIMS if c not in claims]
        self.check(
            "RFC 9068 claims",
            ", ".join(RFC9068_CLAIMS),
            "missing " + ", ".join(missing) if missing else "all present",
            not missing,
        )
        credentials = self.instance.credentials
        if credentials is not None and "client_id" in claims:
            got = claims["client_id"]
            self.check(
                "token client_id", "the registered client_id", got, got == credentials.client_id
            )
        issuer = (self.discovery.metadata or {}).get("issuer") if self.discovery else None
        if isinstance(issuer, str) and "iss" in claims:
            self.check(
                "token iss", f"the metadata issuer {issuer}", claims["iss"], claims["iss"] == issuer
            )

    def _api(self, route: str, token: str) -> Response | None:
        return self.send(CallApi(route, token))

    def check_profiles(self, token: str) -> None:
        if self.wire.name != "adobe-pass":
            return
        response = self._api("profiles", token)
        if response is not None:
            profiles = response.body.get("profiles")
            self.check(
                "profiles of a new client",
                "200, none",
                f"{response.status}, {profiles!r}",
                response.status == 200 and not profiles,
                response,
            )

    def check_tampered(self, token: str) -> None:
        response = self._api("configuration", _damaged(token))
        if response is not None:
            ok = response.status == 401
            self.check("tampered token refused", "401", response.status, ok, response)

    def check_expiry(self, token: str, issued: Response, wait_expiry: float) -> None:
        expires_in = issued.body.get("expires_in")
        if not self.api or not isinstance(expires_in, int | float):
            return
        if expires_in + 1 > wait_expiry:
            self.check(
                "expired token refused",
                "401",
                f"not waited (TTL {expires_in} s > --wait-expiry {wait_expiry:g} s)",
                None,
            )
            return
        time.sleep(expires_in + 1)
        response = self._api("configuration", token)
        if response is not None:
            ok = response.status == 401
            self.check("expired token refused", "401", response.status, ok, response)


def _print_table(checks: list[Check], target: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"dcrload probe: {target}")
    for column in ("check", "expected", "got", "result"):
        table.add_column(column)
    style = {"pass": "green", "fail": "bold red", "skip": "yellow"}
    for c in checks:
        table.add_row(c.name, c.expected, c.got, f"[{style[c.result]}]{c.result.upper()}[/]")
    Console(width=120).print(table)
    explained = [c for c in checks if c.result == "fail" and c.detail]
    if explained:
        print("the server said:")
        for c in explained:
            print(f"  {c.name}: {c.detail}")


def _damaged(token: str) -> str:
    """`token` with its signature's last characters changed."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:-4] + ('AAAA' if signature[-4:] != 'AAAA' else 'BBBB')}"


def read_metadata(text: str) -> dict[str, Any]:
    """``--metadata``: a JSON object inline or ``@FILE``; raise `UsageError` otherwise."""
    if not text:
        return {}
    source = "--metadata"
    if text.startswith("@"):
        source = f"--metadata {text}"
        try:
            text = Path(text[1:]).read_text()
        except OSError as error:
            raise UsageError(f"{source}: {error.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{source}: not JSON ({error})") from None
    if not isinstance(value, dict):
        raise UsageError(f"{source}: expected a JSON object, got {type(value).__name__}")
    return value


def read_initial_access_token(path: Path | None) -> str | None:
    if path is None:
        return os.environ.get(INITIAL_ACCESS_TOKEN_ENV) or None
    try:
        token = path.read_text().strip()
    except OSError as error:
        raise UsageError(f"--initial-access-token-file {path}: {error.strerror}") from None
    if not token or any(c.isspace() for c in token):
        raise UsageError(f"--initial-access-token-file {path}: expected one token")
    return token


def probe_wire(args: argparse.Namespace) -> tuple[WireProfile, set[str]]:
    """The profile to probe with — the scenario's ``[loadtest]`` (``--scenario``), then the
    flags on top — and the endpoint settings given explicitly (discovery keeps those).

    Raises `UsageError` for a bad scenario or flag.
    """
    base: WireProfile | None = None
    explicit: set[str] = set()
    if args.scenario is not None:
        scenario = load_scenario(args.scenario)
        base, explicit = wire_profile(scenario), explicit_paths(scenario)
    profile = args.profile or (base.name if base is not None else "adobe-pass")
    if base is not None and base.name != profile:
        base = replace(base, name=profile, paths=DEFAULT_PATHS[profile], token_auth="")
        explicit.discard("register")
        explicit.discard("token")
    given = {
        part.partition("=")[0].strip().replace("-", "_")
        for part in args.paths.split(",")
        if part.strip()
    }
    explicit |= given & {"register", "token"}
    if args.token_auth:
        explicit.add("token_auth")
    try:
        flagged = parse_paths(args.paths, profile)
        paths = base.paths if base is not None else DEFAULT_PATHS[profile]
        paths = replace(paths, **{name: getattr(flagged, name) for name in given})
        if args.no_api:
            api = "none"
        elif args.api:
            api = args.api
        elif base is not None:
            api = base.api
        else:
            api = "mock" if profile == "adobe-pass" or "api_prefix" in given else "none"
        metadata = dict(base.metadata) if base is not None else {}
        metadata.update(read_metadata(args.metadata))
        initial = read_initial_access_token(args.initial_access_token_file)
        if args.initial_access_token_file is None and base is not None:
            initial = base.initial_access_token or initial
        wire = WireProfile(
            profile,
            paths,
            args.service_provider or (base.service_provider if base else "dcrload"),
            args.token_auth or (base.token_auth if base and "token_auth" in explicit else ""),
            metadata=metadata,
            initial_access_token=initial,
            scope=args.scope or (base.scope if base is not None else None),
            api=api,
            device_headers=args.device_headers
            if args.device_headers is not None
            else (base.device_headers if base is not None and base.name == profile else None),
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    return wire, explicit


def run(args: argparse.Namespace) -> int:
    target = args.target.rstrip("/")
    if not target.startswith(("http://", "https://")):
        raise UsageError(f"--target {args.target!r} must be an http:// or https:// URL")
    if not 0 <= args.wait_expiry <= MAX_WAIT_EXPIRY or math.isnan(args.wait_expiry):
        raise UsageError(f"--wait-expiry must be between 0 and {MAX_WAIT_EXPIRY:g} seconds")
    if not 0 < args.timeout <= 120:
        raise UsageError("--timeout must be in (0, 120] seconds")
    try:
        statement = args.software_statement.read_text().strip()
    except OSError as error:
        raise UsageError(
            f"--software-statement {args.software_statement}: {error.strerror}"
        ) from None
    if statement.count(".") != 2:
        raise UsageError(f"--software-statement {args.software_statement}: not a JWT")
    wire, explicit = probe_wire(args)
    probe: Probe | None = None
    with httpx.Client(base_url=target, timeout=args.timeout) as client:
        try:
            discovery = discover(target, wire, explicit, client)
            for note in discovery.notes:
                print(f"dcrload probe: note: {note}")
            probe = Probe(client, discovery.wire, statement, wire.sends_api, discovery)
            checks = probe.run(args.wait_expiry)
        except (Unreachable, TargetUnreachable) as error:
            reason = str(error).removeprefix(f"{target}: cannot connect ")
            print(f"dcrload probe: cannot connect to {target}: {reason.strip('()')}")
            done = len(probe.checks) if probe is not None else 0
            verdict = f"the connection was lost after {done} checks" if done else "nothing checked"
            print(f"dcrload probe: {verdict} (exit status 3: cannot connect, no verdict)")
            return EXIT_UNREACHABLE
    _print_table(checks, target)
    counts = {r: sum(c.result == r for c in checks) for r in ("pass", "fail", "skip")}
    print(
        f"dcrload probe: {counts['pass']} checks passed, {counts['fail']} deviated, "
        f"{counts['skip']} skipped"
    )
    return EXIT_DEVIATION if counts["fail"] else 0
