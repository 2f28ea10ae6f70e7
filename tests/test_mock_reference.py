"""The mock as a reference server (rfc7591 profile): RFC 8414 metadata, a JWKS, RFC 9068
access tokens with an RFC 7638 ``kid``, optional open registration.

The main test reads everything from the issuer URL over a real socket, as a resource
server would, and verifies a token with pyjwt from the fetched JWKS alone.
"""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from mock_fixtures import (  # noqa: F401
    DEVICE,
    T0,
    LiveServer,
    Mock,
    keys_dir,
    keyset,
    make_mock,
    mock,
    start_server,
    statement,
    stop_server,
)

from loadtests.mockserver.jwks import thumbprint

pytestmark = pytest.mark.xdist_group("mock_reference")  # module fixtures: once

# RFC 7638 section 3.1: the example RSA key and its published thumbprint.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPe"
    "bWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY36"
    "8QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4l"
    "Fd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_matches_the_rfc_example() -> None:
    jwk = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert thumbprint(jwk) == RFC7638_THUMBPRINT  # optional members do not count
    assert thumbprint({**jwk, "e": "AQAC"}) != RFC7638_THUMBPRINT


@pytest.fixture(scope="module")
def reference(keys_dir: Path) -> Iterator[LiveServer]:
    server = start_server(
        "--keys", str(keys_dir), "--db", ":memory:", "--profile", "rfc7591", "--no-throttle"
    )
    yield server
    stop_server(server.process)


def test_a_resource_server_verifies_tokens_from_the_issuer_url_alone(
    reference: LiveServer, statement: str
) -> None:
    with httpx.Client(timeout=5) as client:
        meta = client.get(reference.url + "/.well-known/oauth-authorization-server").json()
        assert meta["issuer"] == reference.url
        assert meta["registration_endpoint"] == reference.url + "/register"
        assert meta["token_endpoint"] == reference.url + "/token"
        assert set(meta["token_endpoint_auth_methods_supported"]) == {
            "client_secret_basic",
            "client_secret_post",
        }
        assert meta["grant_types_supported"] == ["client_credentials"]
        assert meta["response_types_supported"] == []

        creds = client.post(
            meta["registration_endpoint"], json={"software_statement": statement}
        ).json()
        answer = client.post(
            meta["token_endpoint"],
            data={"grant_type": "client_credentials"},
            auth=(creds["client_id"], creds["client_secret"]),
        )
        assert answer.status_code == 200
        token = answer.json()["access_token"]
        jwks = client.get(meta["jwks_uri"]).json()

    (jwk,) = jwks["keys"]
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"
    assert header["kid"] == jwk["kid"] == thumbprint(jwk)
    key = jwt.PyJWK(jwk)
    audience = reference.url + "/api/v2"
    claims = jwt.decode(
        token,
        key.key,
        algorithms=[jwk["alg"]],
        audience=audience,
        issuer=meta["issuer"],
        options={"require": ["exp", "iat", "jti", "sub", "aud", "iss"]},
    )
    assert claims["client_id"] == claims["sub"] == creds["client_id"]
    assert claims["scope"] == "api:client:v2"
    assert claims["exp"] - claims["iat"] == answer.json()["expires_in"]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=[jwk["alg"]], audience="https://elsewhere")


def test_each_store_gets_its_own_key_and_kid(keyset) -> None:
    first, second = make_mock(keyset), make_mock(keyset, profile="rfc7591")
    assert first.state.issuer.kid != second.state.issuer.kid
    assert first.state.issuer.kid == thumbprint(first.state.issuer.jwk)


def test_adobe_pass_publishes_a_jwks_but_no_metadata(mock: Mock, statement: str) -> None:
    assert mock.client.get("/.well-known/oauth-authorization-server").status_code == 404
    (jwk,) = mock.client.get("/.well-known/jwks.json").json()["keys"]
    token = mock.access_token(statement)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": jwk["kid"], "typ": "JWT"}
    jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        issuer="dcrload-mock",
        options={"verify_iat": False, "verify_nbf": False},  # the fake clock is T0
    )


def _rfc(keyset, **settings) -> Mock:
    return make_mock(keyset, profile="rfc7591", issuer="http://mock.test", **settings)


def _signed(m: Mock, claims: dict, typ: str = "at+jwt") -> str:
    issuer = m.state.issuer
    return jwt.encode(
        {"iss": issuer.issuer, "iat": int(T0), "exp": int(T0) + 600, "jti": "j", **claims},
        issuer.private_key,
        algorithm=issuer.alg,
        headers={"kid": issuer.kid, "typ": typ},
    )


def test_the_api_checks_typ_and_aud_of_rfc9068_tokens(keyset, statement: str) -> None:
    m = _rfc(keyset)
    client_id, _secret = m.credentials(statement)
    good = {"sub": client_id, "client_id": client_id, "aud": "http://mock.test/api/v2"}
    assert m.api("configuration", _signed(m, good)).status_code == 200
    assert m.api("configuration", _signed(m, good, "application/at+jwt")).status_code == 200
    refused = [
        _signed(m, good, typ="JWT"),
        _signed(m, {**good, "aud": "http://elsewhere/api/v2"}),
        _signed(m, {k: v for k, v in good.items() if k != "aud"}),
        _signed(m, {k: v for k, v in good.items() if k != "client_id"}),
        _signed(m, {**good, "client_id": "someone-else"}),
    ]
    for token in refused:
        response = m.api("configuration", token)
        assert response.status_code == 401, jwt.get_unverified_header(token)


def test_open_registration_is_a_setting(keyset, statement: str) -> None:
    closed, opened = _rfc(keyset), _rfc(keyset, open_registration=True)
    body = {"client_name": "no statement", "token_endpoint_auth_method": "client_secret_post"}
    assert closed.client.post("/register", json=body).status_code == 400
    answer = opened.client.post("/register", json=body)
    assert answer.status_code == 201 and "software_id" not in answer.json()
    creds = answer.json()
    token = opened.token(creds["client_id"], creds["client_secret"], headers={})
    assert token.status_code == 200
    assert opened.api("configuration", token.json()["access_token"]).status_code == 200
    # a statement, when one is sent, must still be valid
    bad = opened.client.post("/register", json={**body, "software_statement": "x.y.z"})
    assert bad.status_code == 400
    assert opened.register(statement, headers={}).status_code == 201


def test_open_registration_is_refused_in_the_adobe_pass_profile(keyset) -> None:
    with pytest.raises(ValueError, match="rfc7591"):
        make_mock(keyset, open_registration=True)


def test_adobe_pass_token_answer_is_201_as_documented(mock: Mock, statement: str) -> None:
    """The real service's 201 (not RFC 6749's 200), which strict clients refuse: kept, and
    said in the route's docstring and docs/mock.md."""
    from loadtests.mockserver import dcr

    assert mock.token(*mock.credentials(statement)).status_code == 201
    assert "unexpected HTTP status code" in (dcr.__doc__ or "")
    docs = (Path(__file__).resolve().parent.parent / "docs" / "mock.md").read_text()
    assert "unexpected HTTP status code" in docs and "oauth4webapi" in docs
