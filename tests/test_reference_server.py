"""dcrload's wire format against an RFC 7591 server it did not write (Authlib on Flask).

The server (`tests/reference_server/server.py`) runs as a subprocess on a loopback port;
what it stored is read back from it, so these tests fail if a field never reached it.
"""
# ruff: noqa: F811  (pytest fixtures imported from reference_server.fixtures are parameters)

from __future__ import annotations

import base64
import hashlib
import json

import httpx
import jwt
import pytest
from reference_server.fixtures import (  # noqa: F401
    INITIAL_ACCESS_TOKEN,
    METADATA,
    Reference,
    reference_keys,
    reference_server,
)

from dcrload.core.actions import FetchToken, Register
from dcrload.core.wire import Device, Paths, WireProfile, to_response

DEVICE = Device("ref-device-1", "ignored", forwarded_for=None, user_agent="dcrload-test")
PATHS = Paths("/oauth/register", "/oauth/token", "/api/v2")


def _profile(**kw) -> WireProfile:
    settings = {
        "paths": PATHS,
        "metadata": METADATA,
        "initial_access_token": INITIAL_ACCESS_TOKEN,
        "api": "none",
        **kw,
    }
    return WireProfile("rfc7591", **settings)


def _send(server: Reference, profile: WireProfile, action) -> httpx.Response:
    request = profile.request(action, DEVICE)
    return httpx.request(
        request.method,
        server.url + request.path,
        headers=request.headers,
        content=request.body,
        timeout=5,
    )


def _register(server: Reference, profile: WireProfile, statement: str) -> dict:
    answer = _send(server, profile, Register(statement, "dcrload-demo"))
    assert answer.status_code == 201, answer.text
    return answer.json()


def _stored(server: Reference, client_id: str) -> dict:
    return next(c for c in server.clients() if c["client_id"] == client_id)


def test_metadata_and_jwks_are_published(reference_server) -> None:
    url = reference_server.url
    metadata = httpx.get(url + "/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == url
    assert metadata["registration_endpoint"] == url + "/oauth/register"
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
    ]
    (key,) = httpx.get(metadata["jwks_uri"]).json()["keys"]
    members = {name: key[name] for name in ("crv", "kty", "x", "y")}
    digest = hashlib.sha256(json.dumps(members, separators=(",", ":")).encode()).digest()
    assert key["kid"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()  # RFC 7638
    assert "d" not in key


def test_registration_body_reaches_the_server(reference_server, reference_keys) -> None:
    statement = reference_keys.statement.read_text().strip()
    answer = _register(reference_server, _profile(), statement)
    stored = _stored(reference_server, answer["client_id"])["metadata"]
    assert stored["response_types"] == []
    assert stored["grant_types"] == ["client_credentials"]
    assert stored["contacts"] == METADATA["contacts"]
    assert stored["client_name"] == METADATA["client_name"]
    assert stored["token_endpoint_auth_method"] == "client_secret_basic"
    assert stored["software_id"] == "dcrload-demo"  # read from the verified statement


def test_client_secret_basic_end_to_end(reference_server, reference_keys) -> None:
    statement = reference_keys.statement.read_text().strip()
    profile = _profile(scope="tv.read")
    answer = _register(reference_server, profile, statement)
    client_id, secret = answer["client_id"], answer["client_secret"]
    token_answer = _send(reference_server, profile, FetchToken(client_id, secret))
    assert token_answer.status_code == 200, token_answer.text
    event = to_response(token_answer.status_code, token_answer.headers, token_answer.content)
    assert event.status in profile.token_ok and event.headers["cache-control"] == "no-store"
    token = event.body["access_token"]
    jwks = httpx.get(reference_server.url + "/jwks.json").json()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(token, key.key, algorithms=["ES256"], audience=client_id)
    assert claims["client_id"] == client_id and claims["scope"] == "tv.read"
    assert claims["exp"] - claims["iat"] == event.body["expires_in"]
    # the server holds the client to the method it registered: the form is refused
    post = _send(
        reference_server, _profile(token_auth="client_secret_post"), FetchToken(client_id, secret)
    )
    assert post.status_code == 401 and post.json()["error"] == "invalid_client"
    assert _stored(reference_server, client_id)["tokens"] == 1


def test_client_secret_post_end_to_end(reference_server, reference_keys) -> None:
    statement = reference_keys.statement.read_text().strip()
    profile = _profile(token_auth="client_secret_post")
    answer = _register(reference_server, profile, statement)
    stored = _stored(reference_server, answer["client_id"])["metadata"]
    assert stored["token_endpoint_auth_method"] == "client_secret_post"
    token = _send(
        reference_server, profile, FetchToken(answer["client_id"], answer["client_secret"])
    )
    assert token.status_code == 200, token.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ("omit response_types", "invalid_redirect_uri"),
        ("no initial access token", "access_denied"),
        ("no contacts", "invalid_client_metadata"),
        ("broken statement", "invalid_software_statement"),
    ],
)
def test_the_server_refuses_what_a_strict_deployment_refuses(
    reference_server, reference_keys, change, error
) -> None:
    statement = reference_keys.statement.read_text().strip()
    profile = _profile()
    body = profile.registration_body(statement)
    headers = profile.request(Register(statement, "x"), DEVICE).headers
    if change == "omit response_types":
        del body["response_types"]  # RFC 7591 section 2: then ["code"], redirect_uris needed
    elif change == "no initial access token":
        del headers["Authorization"]
    elif change == "no contacts":
        del body["contacts"]
    else:
        head, payload, signature = statement.split(".")
        body["software_statement"] = f"{head}.{payload}.{signature[::-1]}"
    answer = httpx.post(
        reference_server.url + PATHS.register, headers=headers, content=json.dumps(body)
    )
    assert answer.status_code == 400 and answer.json()["error"] == error
