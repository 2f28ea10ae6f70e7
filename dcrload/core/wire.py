"""The HTTP mapping of the lifecycle's actions: sans-IO, shared by every HTTP driver.

`dcrload probe` (httpx) and the Locust user both turn a `Register`, `FetchToken` or
`CallApi` action into a request with `WireProfile.request` and turn what came back into a
`Response` event with `to_response`. Nothing here opens a socket, reads a clock or draws a
random number, so the two drivers cannot disagree on the wire format and the mapping is
tested without a network.

Two profiles:

- ``adobe-pass``: Adobe Pass Authentication's DCR endpoints. Register is a JSON body
  ``{"software_statement": ...}``; the token call is a form with ``client_id``,
  ``client_secret`` and ``grant_type=client_credentials``; ``X-Device-Info`` on both.
- ``rfc7591``: a generic RFC 7591 server. Register sends the client metadata of a
  client-credentials client (``client_name``, ``grant_types: ["client_credentials"]``,
  ``response_types: []`` — RFC 7591 section 2 defaults an omitted ``response_types`` to
  ``["code"]``, which makes strict servers demand ``redirect_uris`` —
  ``token_endpoint_auth_method`` and ``software_statement``), then the scenario's own
  `metadata` on top. The token call authenticates with ``client_secret_basic`` (the
  default: an ``Authorization: Basic`` header, RFC 6749 section 2.3.1) or
  ``client_secret_post`` (credentials in the form). No Adobe-specific header
  (``X-Device-Info``, ``AP-Device-Identifier``) unless `device_headers` asks for them.
  Paths are configurable; RFC 8414 discovery (``loadtests.discovery``) fills them in.

Both profiles send an `initial_access_token` as a bearer on registration (RFC 7591
section 3) and a `scope` in the token request when they are given.

API routes (``CallApi.route``) are relative to ``{api_prefix}/{service_provider}/`` when
`api` is ``"mock"``; `api` may instead be a URL template of the user's own resource server
(``"https://rs.example.com/v1/{route}"``, ``{service_provider}`` also filled in) or
``"none"`` (`sends_api` is false: the driver sends no API request). ``configuration`` and
``profiles`` are GETs; ``decisions/authorize/{mvpd}`` and ``authenticate/{mvpd}`` are POSTs
with a JSON body.

A path may also be an absolute ``http(s)://`` URL (a discovered endpoint, an API
template): httpx and Locust's clients send an absolute URL as it is, past the base URL.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

from dcrload.core.actions import CallApi, FetchToken, Register, RequestAction, Response

PROFILES = ("adobe-pass", "rfc7591")
TOKEN_AUTH_METHODS = ("client_secret_post", "client_secret_basic")
DEFAULT_TOKEN_AUTH = {"adobe-pass": "client_secret_post", "rfc7591": "client_secret_basic"}
"""Adobe Pass takes its credentials in the form; RFC 7591 section 2 defaults to Basic."""

API_MOCK = "mock"
API_NONE = "none"
RESERVED_METADATA = ("software_statement", "token_endpoint_auth_method")
"""Body fields the profile owns: a scenario's metadata may not set them (the statement
comes from the app, the auth method must match what the token request does)."""

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Paths:
    """Where the three kinds of request go (a path starting with ``/``, or an absolute
    ``http(s)://`` URL for register and token, e.g. from RFC 8414 metadata)."""

    register: str = "/o/client/register"
    token: str = "/o/client/token"
    api_prefix: str = "/api/v2"


DEFAULT_PATHS = {
    "adobe-pass": Paths(),
    "rfc7591": Paths("/register", "/token", "/api/v2"),
}


@dataclass(frozen=True, slots=True)
class Device:
    """Who is asking: the per-device headers of one app instance.

    `device_info` is the value of ``X-Device-Info`` (the real service wants base64-encoded
    JSON device attributes; see `device_info_for`). `forwarded_for` is sent as
    ``X-Forwarded-For`` when given, which is how the throttle tells devices apart behind
    one load generator.
    """

    device_id: str
    device_info: str
    forwarded_for: str | None = None
    user_agent: str = "dcrload/0.1"


@dataclass(frozen=True, slots=True)
class WireRequest:
    """A request ready for any HTTP client: method, path, headers, body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""
    content_type: str | None = None


def device_info_for(device_id: str, platform: str = "AndroidTV") -> str:
    """An ``X-Device-Info`` value: base64 of a small JSON object, like the real apps send."""
    info = {"model": "dcrload", "osName": platform, "deviceId": device_id}
    return base64.b64encode(json.dumps(info, separators=(",", ":")).encode()).decode()


def split_api_prefix(prefix: str) -> tuple[str, str | None]:
    """Split a scenario's API prefix into (mount, service provider).

    The mock serves any service provider under the mount (``/api/v2/{serviceProvider}/``),
    so a prefix whose last segment is not a version (``/api/v2/dcrload``) names the service
    provider: ``("/api/v2", "dcrload")``; ``/api/v2`` gives ``("/api/v2", None)``.
    """
    prefix = "/" + prefix.strip("/")
    head, _, last = prefix.rpartition("/")
    if head and not re.fullmatch(r"v\d+", last):
        return head, last
    return prefix, None


def parse_paths(text: str, profile: str = "adobe-pass") -> Paths:
    """Parse ``register=/r,token=/t,api_prefix=/api`` over the profile's default paths.

    Raises `ValueError` naming the bad part.
    """
    paths = DEFAULT_PATHS[profile]
    changes: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in ("register", "token", "api_prefix"):
            raise ValueError(f"bad path setting {part!r} (expected register=, token=, api_prefix=)")
        absolute = name != "api_prefix" and value.startswith(("http://", "https://"))
        if not value.startswith("/") and not absolute:
            raise ValueError(f"path {name}={value!r} must start with '/' (or be an http(s) URL)")
        changes[name] = value.rstrip("/") if name == "api_prefix" else value
    return replace(paths, **changes)


def check_api(api: str) -> str:
    """`api` if it is ``mock``, ``none`` or an http(s) URL template with ``{route}``.

    Raises `ValueError` saying what was expected.
    """
    if api in (API_MOCK, API_NONE):
        return api
    if api.startswith(("http://", "https://")) and "{route}" in api:
        return api
    raise ValueError(
        f"api {api!r}: expected 'mock', 'none' or a URL template with {{route}}, "
        "e.g. 'https://rs.example.com/v1/{route}'"
    )


@dataclass(frozen=True, slots=True)
class WireProfile:
    """How one kind of server wants the lifecycle's requests.

    `token_auth` empty and `device_headers` None mean "the profile's default"
    (`DEFAULT_TOKEN_AUTH`; device headers on for adobe-pass only). `metadata` is merged
    into the registration body; `initial_access_token` goes out as a bearer on
    registration; `scope` goes into the token request. Raises `ValueError` for a setting
    that is not one of the allowed values.
    """

    name: str = "adobe-pass"
    paths: Paths = field(default_factory=Paths)
    service_provider: str = "dcrload"
    token_auth: str = ""
    client_name: str = "dcrload"
    redirect_uri: str | None = None
    resources: tuple[str, ...] = ("dcrload-resource",)
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    initial_access_token: str | None = None
    scope: str | None = None
    api: str = API_MOCK
    device_headers: bool | None = None

    def __post_init__(self) -> None:
        if self.name not in PROFILES:
            raise ValueError(f"profile {self.name!r} is not one of {', '.join(PROFILES)}")
        if not self.token_auth:
            object.__setattr__(self, "token_auth", DEFAULT_TOKEN_AUTH[self.name])
        if self.token_auth not in TOKEN_AUTH_METHODS:
            raise ValueError(
                f"token auth {self.token_auth!r} is not one of {', '.join(TOKEN_AUTH_METHODS)}"
            )
        if self.device_headers is None:
            object.__setattr__(self, "device_headers", self.name == "adobe-pass")
        reserved = sorted(set(self.metadata) & set(RESERVED_METADATA))
        if reserved:
            raise ValueError(
                f"registration metadata may not set {', '.join(reserved)} "
                "(the statement comes from the app; use token_endpoint_auth_method)"
            )
        check_api(self.api)

    @property
    def register_ok(self) -> frozenset[int]:
        """Statuses that mean "registered" (RFC 7591 says 201; some servers answer 200)."""
        return frozenset({201}) if self.name == "adobe-pass" else frozenset({200, 201})

    @property
    def token_ok(self) -> frozenset[int]:
        """Statuses that mean "token issued" (Adobe Pass: 201; RFC 6749: 200)."""
        return frozenset({201}) if self.name == "adobe-pass" else frozenset({200, 201})

    @property
    def sends_api(self) -> bool:
        """False when `api` is ``none``: a bare authorization server, no protected calls."""
        return self.api != API_NONE

    def request(self, action: RequestAction, device: Device) -> WireRequest:
        """The request that performs `action` for `device`."""
        if isinstance(action, Register):
            return self._register(action, device)
        if isinstance(action, FetchToken):
            return self._token(action, device)
        if isinstance(action, CallApi):
            return self._api(action, device)
        raise TypeError(f"{type(action).__name__} is not a request action")

    def api_path(self, route: str) -> str:
        """The path (or URL) of API route `route` (e.g. ``configuration``).

        Raises `ValueError` when `api` is ``none``: no API request may be built then.
        """
        route = route.lstrip("/")
        sp = quote(self.service_provider, safe="")
        if self.api == API_NONE:
            raise ValueError("api = 'none': this profile sends no API requests")
        if self.api != API_MOCK:
            return self.api.replace("{service_provider}", sp).replace("{route}", route)
        return f"{self.paths.api_prefix}/{sp}/{route}"

    def _common(self, device: Device) -> dict[str, str]:
        headers = {"Accept": JSON, "User-Agent": device.user_agent}
        if device.forwarded_for:
            headers["X-Forwarded-For"] = device.forwarded_for
        return headers

    def registration_body(self, software_statement: str) -> dict[str, Any]:
        """The JSON body of a registration: the profile's fields, then `metadata`."""
        body: dict[str, Any] = {}
        if self.name == "rfc7591":
            body.update(
                client_name=self.client_name,
                grant_types=["client_credentials"],
                response_types=[],
                token_endpoint_auth_method=self.token_auth,
            )
            if self.redirect_uri:
                body["redirect_uris"] = [self.redirect_uri]
        elif self.redirect_uri:
            body["redirect_uri"] = self.redirect_uri
        body.update(self.metadata)
        if software_statement or self.name == "adobe-pass":
            body["software_statement"] = software_statement
        return body

    def _register(self, action: Register, device: Device) -> WireRequest:
        body = self.registration_body(action.software_statement)
        headers = self._common(device)
        headers["Content-Type"] = JSON
        if self.device_headers:
            headers["X-Device-Info"] = device.device_info
        if self.initial_access_token:
            headers["Authorization"] = f"Bearer {self.initial_access_token}"
        return WireRequest("POST", self.paths.register, headers, _json(body), JSON)

    def _token(self, action: FetchToken, device: Device) -> WireRequest:
        headers = self._common(device)
        headers["Content-Type"] = FORM
        if self.device_headers:
            headers["X-Device-Info"] = device.device_info
        form = {"grant_type": "client_credentials"}
        if self.token_auth == "client_secret_basic":
            pair = f"{quote(action.client_id, safe='')}:{quote(action.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = action.client_id
            form["client_secret"] = action.client_secret
        if self.scope:
            form["scope"] = self.scope
        return WireRequest("POST", self.paths.token, headers, urlencode(form).encode(), FORM)

    def _api(self, action: CallApi, device: Device) -> WireRequest:
        headers = self._common(device)
        headers["Authorization"] = f"Bearer {action.access_token}"
        if self.device_headers:
            headers["AP-Device-Identifier"] = device.device_id
            headers["X-Device-Info"] = device.device_info
        route = action.route.lstrip("/")
        if route.startswith(("decisions/", "authenticate/")):
            headers["Content-Type"] = JSON
            body = _json({"resources": list(self.resources)})
            return WireRequest("POST", self.api_path(route), headers, body, JSON)
        return WireRequest("GET", self.api_path(route), headers)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def to_response(
    status: int, headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes
) -> Response:
    """The `Response` event for what the server sent: JSON object body or ``{}``."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered = {name.lower(): value for name, value in pairs}
    decoded: Any = {}
    if body:
        try:
            decoded = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            decoded = {}
    return Response(status, decoded if isinstance(decoded, dict) else {}, lowered)
