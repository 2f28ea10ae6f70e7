"""`loadtests.discovery`: RFC 8414 metadata read once, explicit settings kept."""
# ruff: noqa: F811  (pytest fixtures imported from reference_server.fixtures are parameters)

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from reference_server.fixtures import reference_keys, reference_server  # noqa: F401

from dcrload.core.wire import Paths, WireProfile
from dcrload.model.scenario import load_scenario
from loadtests.discovery import (
    Unreachable,
    as_overrides,
    discover,
    metadata_urls,
    resolve,
)
from loadtests.options import explicit_paths, wire_profile

pytestmark = pytest.mark.xdist_group("discovery")  # module fixtures: once

RFC = WireProfile("rfc7591", Paths("/register", "/token", "/api/v2"))


def test_metadata_urls_for_an_issuer_with_and_without_a_path() -> None:
    assert metadata_urls("http://as.test/") == [
        "http://as.test/.well-known/oauth-authorization-server",
        "http://as.test/.well-known/openid-configuration",
    ]
    assert metadata_urls("http://as.test/realms/tv") == [
        "http://as.test/.well-known/oauth-authorization-server/realms/tv",
        "http://as.test/realms/tv/.well-known/oauth-authorization-server",
        "http://as.test/realms/tv/.well-known/openid-configuration",
        "http://as.test/.well-known/openid-configuration/realms/tv",
    ]


def test_resolve_takes_endpoints_and_a_supported_method() -> None:
    metadata = {
        "issuer": "http://as.test",
        "registration_endpoint": "http://as.test/connect/register",
        "token_endpoint": "http://as.test/connect/token?x=1",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_post"],
    }
    wire, notes = resolve(RFC, metadata, "http://as.test")
    assert wire.paths == Paths("/connect/register", "/connect/token?x=1", "/api/v2")
    assert wire.token_auth == "client_secret_post" and notes == []
    # explicit settings win, and an explicit unsupported method is reported
    kept, notes = resolve(RFC, metadata, "http://as.test", {"register", "token_auth"})
    assert kept.paths.register == "/register" and kept.paths.token == "/connect/token?x=1"
    assert kept.token_auth == "client_secret_basic"
    assert any("client_secret_basic may be refused" in n for n in notes)


def test_resolve_defaults_and_warnings() -> None:
    metadata = {"issuer": "http://other.test", "token_endpoint": "http://tokens.test/t"}
    wire, notes = resolve(RFC, metadata, "http://as.test")
    assert wire.token_auth == "client_secret_basic"  # RFC 8414 default when omitted
    assert wire.paths.token == "http://tokens.test/t"  # another host: the absolute URL
    assert wire.paths.register == "/register"
    assert any("no registration_endpoint" in n for n in notes)
    assert any("another host" in n for n in notes)
    assert any("differs from the target" in n for n in notes)


def test_a_loopback_target_keeps_the_load_on_loopback() -> None:
    metadata = {
        "issuer": "http://keycloak:8080",  # the container's own name
        "registration_endpoint": "http://keycloak:8080/register",
        "token_endpoint": "http://127.0.0.2:9000/token",  # another loopback address: kept
    }
    wire, notes = resolve(RFC, metadata, "http://127.0.0.1:8080")
    assert wire.paths.register == "/register"
    assert wire.paths.token == "http://127.0.0.2:9000/token"
    assert any("sent to the loopback target" in n for n in notes)
    remote, _ = resolve(RFC, metadata, "https://as.example")
    assert remote.paths.register == "http://keycloak:8080/register"  # not loopback: as named


def test_discover_against_the_reference_server(reference_server) -> None:
    found = discover(reference_server.url, RFC)
    assert found.url == reference_server.url + "/.well-known/oauth-authorization-server"
    assert found.wire.paths.register == "/oauth/register"
    assert found.wire.paths.token == "/oauth/token"
    assert found.jwks_uri == reference_server.url + "/jwks.json"
    assert found.notes == ()
    adobe = WireProfile()
    assert discover(reference_server.url, adobe).wire is adobe  # adobe-pass: never looked up


class _OidcOnly(BaseHTTPRequestHandler):
    """Serves OpenID configuration under an issuer path, 404 elsewhere."""

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}/realms/tv"
        if self.path == "/realms/tv/.well-known/openid-configuration":
            body = json.dumps(
                {
                    "issuer": base,
                    "token_endpoint": base + "/protocol/openid-connect/token",
                    "registration_endpoint": base + "/clients-registrations/openid-connect",
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                }
            ).encode()
            self.send_response(200)
        else:
            body = b"<html>not here</html>"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def oidc_only() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OidcOnly)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_discover_falls_back_to_openid_configuration(oidc_only) -> None:
    target = oidc_only + "/realms/tv"
    found = discover(target, RFC)
    assert found.url == target + "/.well-known/openid-configuration"
    # the target has a path: endpoints stay absolute so no client doubles the path
    assert found.wire.paths.register == target + "/clients-registrations/openid-connect"
    assert found.wire.token_auth == "client_secret_post"


def test_no_metadata_keeps_the_profile(oidc_only) -> None:
    found = discover(oidc_only, RFC)
    assert found.metadata is None and found.wire == RFC
    assert as_overrides(found) == []


def test_a_dead_port_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable, match="cannot connect"):
        discover(f"http://127.0.0.1:{port}", RFC, timeout=2)


def test_overrides_give_locust_the_resolved_profile(reference_server, tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[loadtest]\nprofile = "rfc7591"\n')
    scenario = load_scenario(path)
    found = discover(reference_server.url, wire_profile(scenario), explicit_paths(scenario))
    again = wire_profile(load_scenario(path, as_overrides(found)))
    assert again.paths == found.wire.paths and again.token_auth == found.wire.token_auth
    # a path the user set is neither replaced nor overridden
    given = load_scenario(path, ["loadtest.paths.token=/mine"])
    kept = discover(reference_server.url, wire_profile(given), explicit_paths(given))
    assert kept.wire.paths.token == "/mine"
    assert not any("paths.token" in o for o in as_overrides(kept, explicit_paths(given)))
