"""RFC 8414 metadata lookup: where an RFC 7591 server registers clients and issues tokens.

`discover` is called once per command (`dcrload loadtest --target URL`, `dcrload probe`)
with the profile the scenario or the flags describe. It asks the target for its
authorization server metadata — ``/.well-known/oauth-authorization-server`` (RFC 8414),
then ``/.well-known/openid-configuration`` (OpenID Connect Discovery), each in the forms
RFC 8414 section 3.1 allows for an issuer with a path — and returns a `WireProfile` with
the registration and token endpoints and a token-endpoint auth method the server
supports. What the user set explicitly (scenario `loadtest.paths`, `--paths`,
`token_endpoint_auth_method`, `--token-auth`) is kept. The result is explicit, so Locust
processes get it as plain `--dcr-set` overrides (`as_overrides`) and never look it up
themselves.

A server without metadata is fine: the profile comes back unchanged. A server that cannot
be reached at all raises `Unreachable`; the caller decides what that means.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from dcrload.commandline.addresses import is_loopback_url
from dcrload.core.wire import TOKEN_AUTH_METHODS, WireProfile

RFC8414 = "oauth-authorization-server"
OIDC = "openid-configuration"
DEFAULT_AUTH_METHODS = ("client_secret_basic",)
"""RFC 8414 section 2: an omitted ``token_endpoint_auth_methods_supported`` means this."""
MAX_METADATA_BYTES = 1 << 20


class Unreachable(Exception):
    """Nothing answered at the target: the connection was refused or timed out."""


@dataclass(frozen=True)
class Discovery:
    """The resolved profile, the metadata it came from (None when there was none) and
    notes worth telling the user (an endpoint on another host, an unsupported method)."""

    wire: WireProfile
    metadata: dict[str, Any] | None = None
    url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def jwks_uri(self) -> str | None:
        value = (self.metadata or {}).get("jwks_uri")
        return value if isinstance(value, str) and value else None


def metadata_urls(target: str) -> list[str]:
    """Where the metadata of the issuer at `target` may be, most standard first."""
    parts = urlsplit(target.rstrip("/"))
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    urls = [f"{origin}/.well-known/{RFC8414}{path}"]
    if path:
        urls.append(f"{origin}{path}/.well-known/{RFC8414}")
    urls.append(f"{origin}{path}/.well-known/{OIDC}")
    if path:
        urls.append(f"{origin}/.well-known/{OIDC}{path}")
    return urls


def fetch_metadata(client: httpx.Client, target: str) -> tuple[str, dict[str, Any]] | None:
    """The first metadata document found, with its URL; None when there is none.

    Raises `Unreachable` when the target refuses connections or does not connect in time
    (a server that answers 404, HTML or garbage simply has no metadata).
    """
    for url in metadata_urls(target):
        try:
            answer = client.get(url, headers={"Accept": "application/json"})
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            reason = f"{target}: cannot connect ({type(error).__name__}: {error})"
            raise Unreachable(reason) from None
        except httpx.HTTPError:
            continue
        if answer.status_code != 200 or len(answer.content) > MAX_METADATA_BYTES:
            continue
        try:
            document = json.loads(answer.content)
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(document, dict) and (
            isinstance(document.get("token_endpoint"), str)
            or isinstance(document.get("registration_endpoint"), str)
        ):
            return url, document
    return None


def _endpoint(value: Any, target: str) -> str | None:
    """A metadata endpoint as the drivers should send it: a path on the target's origin
    when the target has no path of its own, else the absolute URL.

    A loopback target never sends load off the machine: an endpoint the metadata puts on
    another host (a container's own name, typically) is taken on the target's origin."""
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        return None
    want, got = urlsplit(target.rstrip("/")), urlsplit(value)
    path = (got.path or "/") + (f"?{got.query}" if got.query else "")
    same = (got.scheme, got.netloc) == (want.scheme, want.netloc)
    if not same and is_loopback_url(target) and not is_loopback_url(value):
        value, same = f"{want.scheme}://{want.netloc}{path}", True
    if same and not want.path.strip("/"):
        return path
    return value


def resolve(
    wire: WireProfile,
    metadata: dict[str, Any],
    target: str,
    explicit: Collection[str] = (),
) -> tuple[WireProfile, list[str]]:
    """`wire` with what `metadata` says, except the `explicit` settings (``register``,
    ``token``, ``token_auth``); and the notes for the user. Pure: no I/O."""
    notes: list[str] = []
    paths = wire.paths
    origin = urlsplit(target).netloc
    for name, key in (("register", "registration_endpoint"), ("token", "token_endpoint")):
        found = _endpoint(metadata.get(key), target)
        if found is None:
            if name == "register":
                notes.append("the metadata names no registration_endpoint (is DCR enabled?)")
            continue
        if name in explicit:
            continue
        paths = replace(paths, **{name: found})
        host = urlsplit(found).netloc
        if host and host != origin:
            notes.append(f"{key} is on another host: {found}")
        elif urlsplit(str(metadata[key])).netloc not in ("", origin):
            notes.append(f"{key} names {metadata[key]}; sent to the loopback target: {found}")
    issuer = metadata.get("issuer")
    if isinstance(issuer, str) and issuer.rstrip("/") != target.rstrip("/"):
        notes.append(f"issuer {issuer!r} differs from the target {target!r} (RFC 8414 §3.3)")
    supported = metadata.get("token_endpoint_auth_methods_supported")
    methods = (
        [m for m in supported if isinstance(m, str)]
        if isinstance(supported, list)
        else list(DEFAULT_AUTH_METHODS)
    )
    token_auth = wire.token_auth
    if token_auth not in methods:
        usable = [m for m in methods if m in TOKEN_AUTH_METHODS]
        if "token_auth" in explicit or not usable:
            notes.append(
                f"the server supports token_endpoint_auth_methods {', '.join(methods) or '(none)'}"
                f"; {token_auth} may be refused"
            )
        else:
            token_auth = usable[0]
    return replace(wire, paths=paths, token_auth=token_auth), notes


def discover(
    target: str,
    wire: WireProfile,
    explicit: Collection[str] = (),
    client: httpx.Client | None = None,
    timeout: float = 5.0,
) -> Discovery:
    """Look the target's metadata up once and resolve `wire` with it (rfc7591 only).

    Raises `Unreachable` when nothing answers at the target.
    """
    if wire.name != "rfc7591":
        return Discovery(wire)
    own = client is None
    http = client if client is not None else httpx.Client(timeout=timeout)
    try:
        found = fetch_metadata(http, target)
    finally:
        if own:
            http.close()
    if found is None:
        return Discovery(wire, notes=("no RFC 8414 metadata: the configured paths are used",))
    url, metadata = found
    resolved, notes = resolve(wire, metadata, target, explicit)
    return Discovery(resolved, metadata, url, tuple(notes))


def as_overrides(discovery: Discovery, explicit: Collection[str] = ()) -> list[str]:
    """``--set``-style overrides that give Locust processes the resolved endpoints."""
    if discovery.metadata is None:
        return []
    wire = discovery.wire
    overrides = []
    if "register" not in explicit:
        overrides.append(f"loadtest.paths.register={json.dumps(wire.paths.register)}")
    if "token" not in explicit:
        overrides.append(f"loadtest.paths.token={json.dumps(wire.paths.token)}")
    if "token_auth" not in explicit:
        overrides.append(
            f"loadtest.registration.token_endpoint_auth_method={json.dumps(wire.token_auth)}"
        )
    return overrides


def loadtest_overrides(target: str, scenario: Any) -> list[str]:
    """For `dcrload loadtest --target URL`: look up once, tell the user, return overrides.

    An unreachable target is left to the load test's own checks (a warning here).
    """
    from loadtests.options import explicit_paths, wire_profile

    wire = wire_profile(scenario)
    if wire.name != "rfc7591":
        return []
    explicit = explicit_paths(scenario)
    try:
        found = discover(target, wire, explicit)
    except Unreachable as error:
        print(f"dcrload: warning: no RFC 8414 lookup: {error}", file=sys.stderr)
        return []
    if found.metadata is not None:
        paths = found.wire.paths
        print(
            f"dcrload: RFC 8414 metadata ({found.url}): register {paths.register}, "
            f"token {paths.token}, {found.wire.token_auth}"
        )
    for note in found.notes:
        print(f"dcrload: note: {note}", file=sys.stderr)
    return as_overrides(found, explicit)
