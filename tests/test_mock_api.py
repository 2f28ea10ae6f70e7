"""The protected API, in process: bearer checks, profiles bound to clients, revocation."""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import jwt
import pytest
from mock_fixtures import DEVICE, T0, Mock, keys_dir, keyset, make_mock, mock, statement  # noqa: F401


def test_configuration(mock: Mock, statement: str) -> None:
    response = mock.api("configuration", mock.access_token(statement))
    assert response.status_code == 200
    body = response.json()
    assert body["serviceProvider"] == "sp1"
    assert {m["id"] for m in body["mvpds"]} >= {"Cablevision"}


def test_profiles_are_bound_to_the_client(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    assert mock.api("profiles", token).json() == {"profiles": {}}
    denied = mock.api("decisions/authorize/Cablevision", token, "POST", json={"resources": ["r"]})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "authenticated_profile_missing"
    assert denied.json()["error"]["action"] == "authentication"

    created = mock.api("authenticate/Cablevision", token, "POST")
    assert created.status_code == 201
    assert created.json()["profile"]["notBefore"] == int(T0 * 1000)
    assert set(mock.api("profiles", token).json()["profiles"]) == {"Cablevision"}

    allowed = mock.api(
        "decisions/authorize/Cablevision", token, "POST", json={"resources": ["r1", "r2"]}
    )
    assert allowed.status_code == 200
    decisions = allowed.json()["decisions"]
    assert [d["resourceId"] for d in decisions] == ["r1", "r2"]
    assert all(d["authorized"] and d["mvpd"] == "Cablevision" for d in decisions)
    by_get = mock.api("decisions/authorize/Cablevision", token, params={"resources": "r3"})
    assert by_get.json()["decisions"][0]["resourceId"] == "r3"

    # a new client (lost credentials) has no profile: the user must log in again
    other = mock.access_token(statement)
    assert mock.api("profiles", other).json() == {"profiles": {}}
    assert mock.api("decisions/authorize/Cablevision", other, "POST").status_code == 403
    # profiles are per service provider
    assert mock.api("profiles", token, sp="sp2").json() == {"profiles": {}}


def _code(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def test_missing_and_malformed_bearer(mock: Mock) -> None:
    response = mock.client.get("/api/v2/sp1/configuration", headers=DEVICE)
    assert _code(response) == (401, "invalid_access_token")
    assert _code(mock.api("configuration", "not.a.jwt")) == (401, "invalid_access_token")
    response = mock.client.get(
        "/api/v2/sp1/configuration", headers={**DEVICE, "Authorization": "Basic abc"}
    )
    assert _code(response) == (401, "invalid_access_token")


def test_expired_token_is_401(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    mock.clock.advance(21600 - 1)
    assert mock.api("configuration", token).status_code == 200
    mock.clock.advance(1)
    assert _code(mock.api("configuration", token)) == (401, "expired_access_token")


def test_tampered_token_is_401(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    header, payload, sig = token.split(".")
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    assert _code(mock.api("configuration", f"{header}.{payload}.{flipped}")) == (
        401,
        "invalid_access_token",
    )


def test_wrong_issuer_token_is_401_even_with_our_key(mock: Mock, statement: str) -> None:
    client_id, _ = mock.credentials(statement)
    issuer = mock.state.issuer
    claims = {
        "iss": "elsewhere",
        "sub": client_id,
        "iat": int(T0),
        "nbf": int(T0),
        "exp": int(T0) + 600,
        "scopes": [],
        "jti": "x",
    }
    token = jwt.encode(claims, issuer.private_key, algorithm="ES256")
    assert _code(mock.api("configuration", token)) == (401, "invalid_access_token")
    claims["iss"] = issuer.issuer  # same token, right issuer: accepted (not only memoised ones)
    assert (
        mock.api("configuration", jwt.encode(claims, issuer.private_key, "ES256")).status_code
        == 200
    )


def test_not_yet_valid_token_is_401(mock: Mock, statement: str) -> None:
    client_id, _ = mock.credentials(statement)
    issuer = mock.state.issuer
    claims = {
        "iss": issuer.issuer,
        "sub": client_id,
        "iat": int(T0),
        "nbf": int(T0) + 60,
        "exp": int(T0) + 600,
    }
    token = jwt.encode(claims, issuer.private_key, algorithm="ES256")
    assert _code(mock.api("configuration", token)) == (401, "invalid_access_token")


def test_hs256_token_made_with_the_public_key_is_refused(mock: Mock, statement: str) -> None:
    import base64
    import hashlib
    import hmac
    import json

    from cryptography.hazmat.primitives import serialization

    client_id, _ = mock.credentials(statement)
    claims = {
        "iss": mock.state.issuer.issuer,
        "sub": client_id,
        "iat": int(T0),
        "exp": int(T0) + 600,
    }
    pem = mock.state.issuer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(json.dumps(claims).encode())
    mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    assert _code(mock.api("configuration", forged)) == (401, "invalid_access_token")
    unsigned = b64(b'{"alg":"none"}') + "." + b64(json.dumps(claims).encode()) + "."
    assert _code(mock.api("configuration", unsigned)) == (401, "invalid_access_token")


def test_bearer_token_in_query_string_is_refused(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    response = mock.client.get(
        "/api/v2/sp1/configuration", params={"access_token": token}, headers=DEVICE
    )
    assert _code(response) == (400, "invalid_request")
    both = mock.api("configuration", token, params={"access_token": token})
    assert _code(both) == (400, "invalid_request")


def test_device_identifier_is_required(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    response = mock.client.get(
        "/api/v2/sp1/configuration",
        headers={"X-Device-Info": "x", "Authorization": f"Bearer {token}"},
    )
    assert _code(response) == (400, "missing_device_identifier")


def test_revocation_blocks_the_entitlement_flow_and_restore_undoes_it(
    mock: Mock, statement: str
) -> None:
    client_id, secret = mock.credentials(statement)
    token = mock.token(client_id, secret).json()["access_token"]
    mock.api("authenticate/Cablevision", token, "POST")
    mock.admin("POST", "revocations", json={"software_id": "dcrload-demo"})
    assert _code(mock.api("configuration", token)) == (401, "revoked_client")
    assert mock.token(client_id, secret).json()["error"] == "unauthorized_client"
    assert mock.register(statement).json()["error"] == "unapproved_software_statement"
    mock.admin("DELETE", "revocations/dcrload-demo")
    assert mock.api("decisions/authorize/Cablevision", token, "POST").status_code == 200
    assert mock.token(client_id, secret).status_code == 201


def test_service_provider_allow_list(keyset, statement: str) -> None:
    m = make_mock(keyset, service_providers=("sp1",))
    token = m.access_token(statement)
    assert m.api("configuration", token).status_code == 200
    assert _code(m.api("configuration", token, sp="nope")) == (
        400,
        "invalid_parameter_service_provider",
    )


@pytest.mark.parametrize("body", [b"{bad", b'{"resources": "r"}', b'{"resources": [1]}'])
def test_decisions_bad_body(mock: Mock, statement: str, body: bytes) -> None:
    token = mock.access_token(statement)
    mock.api("authenticate/Cablevision", token, "POST")
    response = mock.api("decisions/authorize/Cablevision", token, "POST", content=body)
    assert _code(response) == (400, "invalid_request")


def test_bad_mvpd_id(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    assert _code(mock.api("authenticate/" + "x" * 70, token, "POST")) == (
        400,
        "invalid_parameter_mvpd",
    )


def test_unknown_api_route_is_404(mock: Mock, statement: str) -> None:
    assert mock.api("nothing-here", mock.access_token(statement)).status_code == 404


def test_accept_expired_quirk(keyset, statement: str) -> None:
    m = make_mock(keyset, quirks=frozenset({"accept-expired"}), ttl=10.0)
    token = m.access_token(statement)
    m.clock.advance(3600)
    assert m.api("configuration", token).status_code == 200
