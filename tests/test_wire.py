"""`dcrload.core.wire`: the sans-IO mapping of lifecycle actions to requests and back."""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest

import dcrload.core.wire as wire
from dcrload.core.actions import CallApi, FetchToken, Register, Response, Wait
from dcrload.core.wire import Device, Paths, WireProfile, parse_paths, split_api_prefix, to_response

DEVICE = Device("dev-1", "aW5mbw==", forwarded_for="10.0.0.7", user_agent="ua/1")


def test_adobe_register() -> None:
    request = WireProfile().request(Register("jwt.jwt.jwt", "app"), DEVICE)
    assert (request.method, request.path, request.content_type) == (
        "POST",
        "/o/client/register",
        "application/json",
    )
    assert json.loads(request.body) == {"software_statement": "jwt.jwt.jwt"}
    assert request.headers["X-Device-Info"] == "aW5mbw=="
    assert request.headers["X-Forwarded-For"] == "10.0.0.7"
    assert request.headers["User-Agent"] == "ua/1"


def test_adobe_register_with_redirect_uri() -> None:
    request = WireProfile(redirect_uri="https://a/cb").request(Register("s", "app"), DEVICE)
    assert json.loads(request.body)["redirect_uri"] == "https://a/cb"


def test_adobe_token_is_a_form_with_credentials() -> None:
    request = WireProfile().request(FetchToken("id 1", "s&cret"), DEVICE)
    assert (request.method, request.path) == ("POST", "/o/client/token")
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode()) == {
        "grant_type": ["client_credentials"],
        "client_id": ["id 1"],
        "client_secret": ["s&cret"],
    }
    assert "Authorization" not in request.headers


def test_rfc7591_register_sends_client_metadata() -> None:
    profile = WireProfile(
        "rfc7591",
        wire.DEFAULT_PATHS["rfc7591"],
        token_auth="client_secret_basic",
        redirect_uri="https://a/cb",
    )
    request = profile.request(Register("s", "app"), DEVICE)
    assert request.path == "/register"
    assert json.loads(request.body) == {
        "software_statement": "s",
        "client_name": "dcrload",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": ["https://a/cb"],
    }
    assert profile.register_ok == {200, 201} and profile.token_ok == {200, 201}


def test_token_auth_defaults_per_profile() -> None:
    assert WireProfile("rfc7591").token_auth == "client_secret_basic"
    assert WireProfile("adobe-pass").token_auth == "client_secret_post"
    assert WireProfile("rfc7591", token_auth="client_secret_post").token_auth == (
        "client_secret_post"
    )


def test_rfc7591_metadata_is_merged_into_the_body() -> None:
    metadata = {
        "redirect_uris": ["https://app/cb"],
        "scope": "read write",
        "client_name": "My TV app",
        "contacts": ["ops@example.com"],
    }
    profile = WireProfile("rfc7591", metadata=metadata)
    body = json.loads(profile.request(Register("s.s.s", "app"), DEVICE).body)
    assert body == {
        "client_name": "My TV app",
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": ["https://app/cb"],
        "scope": "read write",
        "contacts": ["ops@example.com"],
        "software_statement": "s.s.s",
    }


def test_rfc7591_open_registration_sends_no_statement() -> None:
    body = json.loads(WireProfile("rfc7591").request(Register("", "app"), DEVICE).body)
    assert "software_statement" not in body
    adobe = json.loads(WireProfile().request(Register("", "app"), DEVICE).body)
    assert adobe == {"software_statement": ""}


def test_reserved_metadata_is_refused() -> None:
    for key in ("software_statement", "token_endpoint_auth_method"):
        with pytest.raises(ValueError, match=key):
            WireProfile("rfc7591", metadata={key: "x"})


def test_initial_access_token_is_a_bearer_on_registration_only() -> None:
    profile = WireProfile("rfc7591", initial_access_token="iat-1", token_auth="client_secret_post")
    register = profile.request(Register("s", "app"), DEVICE)
    assert register.headers["Authorization"] == "Bearer iat-1"
    token = profile.request(FetchToken("c", "s"), DEVICE)
    assert "Authorization" not in token.headers
    assert "Authorization" not in WireProfile("rfc7591").request(Register("s", "a"), DEVICE).headers


def test_scope_goes_into_the_token_request() -> None:
    for profile in (WireProfile("rfc7591", scope="read"), WireProfile(scope="read")):
        form = parse_qs(profile.request(FetchToken("c", "s"), DEVICE).body.decode())
        assert form["scope"] == ["read"]
    form = parse_qs(WireProfile().request(FetchToken("c", "s"), DEVICE).body.decode())
    assert "scope" not in form


def test_rfc7591_sends_no_adobe_headers_unless_asked() -> None:
    plain = WireProfile("rfc7591")
    asked = WireProfile("rfc7591", device_headers=True)
    adobe_only = {"X-Device-Info", "AP-Device-Identifier"}
    for action in (Register("s", "a"), FetchToken("c", "s"), CallApi("configuration", "t")):
        assert not adobe_only & set(plain.request(action, DEVICE).headers)
        assert "X-Device-Info" in asked.request(action, DEVICE).headers
    assert asked.request(CallApi("profiles", "t"), DEVICE).headers["AP-Device-Identifier"] == (
        "dev-1"
    )
    assert WireProfile().request(Register("s", "a"), DEVICE).headers["X-Device-Info"]
    quiet = WireProfile(device_headers=False).request(CallApi("profiles", "t"), DEVICE)
    assert "AP-Device-Identifier" not in quiet.headers


def test_api_url_template_of_the_users_resource_server() -> None:
    profile = WireProfile("rfc7591", api="https://rs.example.com/v1/{service_provider}/{route}")
    get = profile.request(CallApi("configuration", "tok"), DEVICE)
    assert get.path == "https://rs.example.com/v1/dcrload/configuration"
    post = profile.request(CallApi("/decisions/authorize/DTV", "tok"), DEVICE)
    assert (post.method, post.path) == (
        "POST",
        "https://rs.example.com/v1/dcrload/decisions/authorize/DTV",
    )
    assert profile.sends_api


def test_api_none_sends_nothing() -> None:
    profile = WireProfile("rfc7591", api="none")
    assert not profile.sends_api
    with pytest.raises(ValueError, match="none"):
        profile.request(CallApi("configuration", "tok"), DEVICE)
    assert WireProfile().sends_api


@pytest.mark.parametrize("api", ["", "mocks", "https://rs/v1/", "ftp://rs/{route}", "/v1/{route}"])
def test_bad_api_settings_are_refused(api: str) -> None:
    with pytest.raises(ValueError, match="expected 'mock', 'none' or a URL template"):
        WireProfile(api=api)


def test_rfc7591_basic_auth_is_form_encoded_then_base64() -> None:
    profile = WireProfile("rfc7591", token_auth="client_secret_basic")
    request = profile.request(FetchToken("a:b", "c d"), DEVICE)
    scheme, encoded = request.headers["Authorization"].split()
    assert scheme == "Basic"
    assert base64.b64decode(encoded).decode() == "a%3Ab:c%20d"
    assert parse_qs(request.body.decode()) == {"grant_type": ["client_credentials"]}


def test_api_requests() -> None:
    profile = WireProfile(service_provider="my sp")
    get = profile.request(CallApi("configuration", "tok"), DEVICE)
    assert (get.method, get.path, get.body) == ("GET", "/api/v2/my%20sp/configuration", b"")
    assert get.headers["Authorization"] == "Bearer tok"
    assert get.headers["AP-Device-Identifier"] == "dev-1"
    post = profile.request(CallApi("decisions/authorize/DTV", "tok"), DEVICE)
    assert post.method == "POST" and json.loads(post.body) == {"resources": ["dcrload-resource"]}
    assert profile.request(CallApi("authenticate/DTV", "t"), DEVICE).method == "POST"


def test_no_forwarded_for_unless_given() -> None:
    request = WireProfile().request(Register("s", "a"), Device("d", "i"))
    assert "X-Forwarded-For" not in request.headers


def test_non_request_actions_are_refused() -> None:
    with pytest.raises(TypeError):
        WireProfile().request(Wait(1.0), DEVICE)  # type: ignore[arg-type]


def test_bad_profile_settings() -> None:
    with pytest.raises(ValueError):
        WireProfile("oidc")
    with pytest.raises(ValueError):
        WireProfile(token_auth="private_key_jwt")


def test_to_response() -> None:
    event = to_response(201, {"Content-Type": "application/json", "X-A": "1"}, b'{"a": 1}')
    assert event == Response(201, {"a": 1}, {"content-type": "application/json", "x-a": "1"})
    assert to_response(500, [("X", "y")], b"<html>").body == {}
    assert to_response(200, {}, b"[1]").body == {}
    assert to_response(200, {}, b"\xff").body == {}
    assert to_response(204, {}, b"").body == {}


def test_parse_paths() -> None:
    assert parse_paths("") == Paths()
    assert parse_paths("register=/r, token=/t,api-prefix=/x/") == Paths("/r", "/t", "/x")
    assert parse_paths("token=/t", "rfc7591") == Paths("/register", "/t", "/api/v2")
    assert parse_paths("token=https://as/t").token == "https://as/t"
    for bad in ("register", "register=r", "other=/x", "api_prefix=https://rs/api"):
        with pytest.raises(ValueError):
            parse_paths(bad)


def test_split_api_prefix() -> None:
    assert split_api_prefix("/api/v2/dcrload") == ("/api/v2", "dcrload")
    assert split_api_prefix("/api/v2/") == ("/api/v2", None)
    assert split_api_prefix("/v1") == ("/v1", None)


def test_device_info_is_base64_json() -> None:
    info = json.loads(base64.b64decode(wire.device_info_for("d1")))
    assert info["deviceId"] == "d1"


def test_wire_does_no_io() -> None:
    tree = ast.parse(Path(wire.__file__).read_text())
    imported = {
        (node.module or "").split(".")[0]
        if isinstance(node, ast.ImportFrom)
        else alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & {
        "httpx",
        "locust",
        "gevent",
        "simpy",
        "socket",
        "requests",
        "time",
        "random",
    }


# --------------------------------------------------------------------------- from a scenario

RFC_SCENARIO = """
[loadtest]
profile = "rfc7591"
api = "none"

[loadtest.registration]
token_endpoint_auth_method = "client_secret_post"
scope = "tv.read"
initial_access_token = "iat-from-file"

[loadtest.registration.metadata]
redirect_uris = ["https://app.example/cb"]
client_name = "Living-room app"
"""


def _scenario(tmp_path: Path, text: str, *overrides: str):
    from dcrload.model.scenario import load_scenario

    path = tmp_path / "s.toml"
    path.write_text(text)
    return load_scenario(path, list(overrides))


def test_scenario_registration_reaches_the_wire(tmp_path: Path) -> None:
    from loadtests.options import explicit_paths, wire_profile

    scenario = _scenario(tmp_path, RFC_SCENARIO)
    profile = wire_profile(scenario)
    assert (profile.token_auth, profile.scope, profile.api) == (
        "client_secret_post",
        "tv.read",
        "none",
    )
    assert profile.paths.register == "/register" and profile.paths.token == "/token"
    assert explicit_paths(scenario) == {"token_auth"}
    request = profile.request(Register("s.s.s", "app"), DEVICE)
    assert request.headers["Authorization"] == "Bearer iat-from-file"
    body = json.loads(request.body)
    assert body["redirect_uris"] == ["https://app.example/cb"]
    assert body["client_name"] == "Living-room app"
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert body["response_types"] == []


def test_scenario_paths_given_are_explicit_and_kept(tmp_path: Path) -> None:
    from loadtests.options import explicit_paths, wire_profile

    scenario = _scenario(tmp_path, RFC_SCENARIO, "loadtest.paths.token=/oauth/token")
    assert explicit_paths(scenario) == {"token", "token_auth"}
    assert wire_profile(scenario).paths.token == "/oauth/token"
    assert wire_profile(scenario).paths.register == "/register"
    adobe = _scenario(tmp_path, "")
    assert wire_profile(adobe).paths == Paths("/o/client/register", "/o/client/token", "/api/v2")
    assert wire_profile(adobe).token_auth == "client_secret_post"


def test_initial_access_token_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    from loadtests.options import INITIAL_ACCESS_TOKEN_ENV, wire_profile

    monkeypatch.setenv(INITIAL_ACCESS_TOKEN_ENV, "iat-from-env")
    text = RFC_SCENARIO.replace('initial_access_token = "iat-from-file"\n', "")
    assert wire_profile(_scenario(tmp_path, text)).initial_access_token == "iat-from-env"
    assert wire_profile(_scenario(tmp_path, RFC_SCENARIO)).initial_access_token == ("iat-from-file")


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('api = "nowhere"', "loadtest: api 'nowhere'"),
        ('api = "https://rs/v1/"', "URL template with {route}"),
        (
            '[loadtest.registration]\ntoken_endpoint_auth_method = "private_key_jwt"',
            "loadtest.registration.token_endpoint_auth_method",
        ),
        (
            '[loadtest.registration.metadata]\nsoftware_statement = "x"',
            "loadtest.registration: metadata may not set software_statement",
        ),
        (
            "[loadtest.registration.metadata]\nat = 1979-05-27T07:32:00Z",
            "metadata must be plain JSON values",
        ),
        ("[loadtest.registration]\nscopes = 'a'", "loadtest.registration.scopes"),
    ],
)
def test_bad_registration_settings_name_the_field(tmp_path: Path, line: str, field: str) -> None:
    from dcrload.core.errors import UsageError

    text = f"[loadtest]\n{line}\n" if not line.startswith("[") else line + "\n"
    with pytest.raises(UsageError) as error:
        _scenario(tmp_path, text)
    assert str(error.value).startswith(str(tmp_path / "s.toml"))
    assert field in str(error.value)
