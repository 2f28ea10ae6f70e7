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
        "token_endpoint_auth_method": "client_secret_basic",
        "redirect_uris": ["https://a/cb"],
    }
    assert profile.register_ok == {200, 201} and profile.token_ok == {200, 201}


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
    for bad in ("register", "register=r", "other=/x"):
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
