"""The Client Register and Client Token routes, in process: fields, statuses, bad input."""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import base64
import json
import socket

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mock_fixtures import (  # noqa: F401
    DEVICE,
    T0,
    Mock,
    es_key,
    keys_dir,
    keyset,
    make_mock,
    mock,
    rfc_mock,
    signed,
    statement,
)

from loadtests.mockserver.tokens import TokenMemo
from loadtests.statements import STATEMENT_TYP, SigningKey


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# --------------------------------------------------------------------------- adobe-pass


def test_register_answers_201_with_every_documented_field(mock: Mock, statement: str) -> None:
    response = mock.register(statement, redirect_uri="https://app.example/cb")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "client_id",
        "client_secret",
        "client_id_issued_at",
        "redirect_uris",
        "grant_types",
        "scopes",
    }
    assert body["client_id_issued_at"] == int(T0)
    assert body["redirect_uris"] == ["https://app.example/cb"]
    assert body["grant_types"] == ["client_credentials"]
    assert len(base64.urlsafe_b64decode(body["client_secret"] + "=")) >= 16  # >= 128 bits
    assert response.headers["cache-control"] == "no-store"


def test_each_registration_gets_a_new_client(mock: Mock, statement: str) -> None:
    first, second = mock.credentials(statement), mock.credentials(statement)
    assert first[0] != second[0] and first[1] != second[1]


def test_secret_is_stored_hashed(mock: Mock, statement: str) -> None:
    client_id, secret = mock.credentials(statement)
    stored = mock.state.store.clients[client_id]
    assert secret.encode() not in stored.secret_sha256
    assert len(stored.secret_sha256) == 32


def test_token_answers_201_with_every_documented_field(mock: Mock, statement: str) -> None:
    client_id, secret = mock.credentials(statement)
    response = mock.token(client_id, secret)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "created_at", "id"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 21600 and isinstance(body["expires_in"], int)
    assert body["created_at"] == int(T0 * 1000)
    assert response.headers["cache-control"] == "no-store"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert set(claims) == {"iss", "sub", "iat", "nbf", "exp", "scopes", "jti"}
    assert claims["sub"] == client_id and claims["jti"] == body["id"]
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert jwt.get_unverified_header(body["access_token"])["alg"] == "ES256"


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_token_algorithm_can_be_chosen(keyset, statement: str, alg: str) -> None:
    m = make_mock(keyset, token_alg=alg)
    token = m.access_token(statement)
    assert jwt.get_unverified_header(token)["alg"] == alg
    assert m.api("configuration", token).status_code == 200


@pytest.mark.parametrize("alg", ["ES256", "RS256", "EdDSA"])
def test_tokens_signed_by_hand_verify_with_pyjwt_and_without_the_memo(
    keyset, statement: str, alg: str
) -> None:
    """The mock writes its JWS itself (tokens.signer): pyjwt, not the memo, must accept it."""
    m = make_mock(keyset, token_alg=alg)
    token = m.access_token(statement)
    claims = jwt.decode(
        token,
        m.state.issuer.public_key,
        algorithms=[alg],
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["sub"] and jwt.get_unverified_header(token)["typ"] == "JWT"
    m.state.issuer.memo = TokenMemo(16)  # forgotten: verified in full again
    assert m.api("configuration", token).status_code == 200
    assert len(m.state.issuer.memo) == 1
    tampered = token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")
    assert m.api("configuration", tampered).status_code == 401


def test_ttl_and_jitter(keyset, statement: str) -> None:
    m = make_mock(keyset, ttl=100.0, ttl_jitter=0.5, seed=1)
    lives = {m.token(*m.credentials(statement)).json()["expires_in"] for _ in range(30)}
    assert len(lives) > 5 and min(lives) >= 50 and max(lives) <= 100


def test_x_device_info_is_required(mock: Mock, statement: str) -> None:
    response = mock.register(statement, headers={"AP-Device-Identifier": "d"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")
    client_id, secret = mock.credentials(statement)
    response = mock.token(client_id, secret, headers={"AP-Device-Identifier": "d"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


# --------------------------------------------------------------------------- rfc7591


def test_rfc7591_register_echoes_metadata(rfc_mock: Mock, statement: str) -> None:
    response = rfc_mock.client.post(
        "/register",
        json={
            "software_statement": statement,
            "client_name": "tv app",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post",
            "redirect_uris": ["https://app.example/cb"],
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["client_name"] == "tv app"
    assert body["token_endpoint_auth_method"] == "client_secret_post"
    assert body["client_secret_expires_at"] == 0
    assert body["software_id"] == "dcrload-demo"
    assert body["grant_types"] == ["client_credentials"]
    assert body["redirect_uris"] == ["https://app.example/cb"]
    token = rfc_mock.client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": body["client_id"],
            "client_secret": body["client_secret"],
        },
    )
    assert token.status_code == 200
    assert set(token.json()) == {"access_token", "token_type", "expires_in", "scope"}
    assert token.json()["token_type"] == "Bearer"


def test_rfc7591_defaults_to_client_secret_basic(rfc_mock: Mock, statement: str) -> None:
    body = rfc_mock.client.post("/register", json={"software_statement": statement}).json()
    assert body["token_endpoint_auth_method"] == "client_secret_basic"
    good = rfc_mock.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(body["client_id"], body["client_secret"])},
    )
    assert good.status_code == 200
    # the registered method is enforced: the same credentials in the form are refused
    post = rfc_mock.client.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_id": body["client_id"],
            "client_secret": body["client_secret"],
        },
    )
    assert (post.status_code, post.json()["error"]) == (401, "invalid_client")


def test_rfc7591_wrong_basic_secret_gets_401_with_challenge(rfc_mock: Mock, statement: str) -> None:
    body = rfc_mock.client.post("/register", json={"software_statement": statement}).json()
    response = rfc_mock.client.post(
        "/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": _basic(body["client_id"], "wrong")},
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "metadata",
    [
        {"grant_types": ["authorization_code"]},
        {"token_endpoint_auth_method": "private_key_jwt"},
        {"client_name": 7},
    ],
)
def test_rfc7591_bad_metadata(rfc_mock: Mock, statement: str, metadata: dict) -> None:
    response = rfc_mock.client.post("/register", json={"software_statement": statement, **metadata})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_client_metadata")


def test_rfc7591_paths_are_configurable(keyset, statement: str) -> None:
    from dcrload.core.wire import parse_paths

    m = make_mock(keyset, profile="rfc7591", paths=parse_paths("register=/r,token=/t", "rfc7591"))
    assert m.client.post("/r", json={"software_statement": statement}).status_code == 201
    assert m.client.post("/register", json={"software_statement": statement}).status_code == 404


# --------------------------------------------------------------------------- statements


def _statement_error(mock: Mock, token: str) -> tuple[int, str]:
    response = mock.register(token)
    return response.status_code, response.json()["error"]


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_statement_alg_none_is_refused(mock: Mock, keyset) -> None:
    key = es_key(keyset)
    token = _b64({"alg": "none", "kid": key.kid, "typ": STATEMENT_TYP}) + "."
    token += _b64({"iss": key.issuer, "software_id": "x", "iat": 1}) + "."
    assert _statement_error(mock, token) == (400, "invalid_software_statement")


def test_statement_hs256_signed_with_public_key_is_refused(mock: Mock, keyset) -> None:
    key = next(k for k in keyset.keys.values() if k.alg == "RS256")
    pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = _b64({"alg": "HS256", "kid": key.kid, "typ": STATEMENT_TYP})
    payload = _b64({"iss": key.issuer, "software_id": "rsa-app", "iat": 1})
    import hashlib
    import hmac

    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    assert _statement_error(mock, token) == (400, "invalid_software_statement")


def test_statement_tampered_signature_is_refused(mock: Mock, statement: str) -> None:
    header, payload, sig = statement.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["software_id"] = "someone-else"
    assert (
        _statement_error(mock, f"{header}.{_b64(claims)}.{sig}")[1] == "invalid_software_statement"
    )
    flipped = sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")
    assert (
        _statement_error(mock, f"{header}.{payload}.{flipped}")[1] == "invalid_software_statement"
    )


def test_statement_wrong_typ_is_refused(mock: Mock, keyset) -> None:
    token = signed(es_key(keyset), extra_headers={"typ": "JWT"})
    assert _statement_error(mock, token) == (400, "invalid_software_statement")


def test_statement_expired_or_not_yet_valid_is_refused(mock: Mock, keyset) -> None:
    key = es_key(keyset)
    expired = signed(key, extra_claims={"exp": int(T0) - 3600})
    future = signed(key, extra_claims={"nbf": int(T0) + 3600})
    fine = signed(key, extra_claims={"exp": int(T0) + 3600, "nbf": int(T0) - 10})
    assert _statement_error(mock, expired) == (400, "invalid_software_statement")
    assert _statement_error(mock, future) == (400, "invalid_software_statement")
    assert mock.register(fine).status_code == 201


def test_statement_unknown_kid_or_untrusted_key_is_refused(mock: Mock, keyset) -> None:
    key = es_key(keyset)
    stranger = ec.generate_private_key(ec.SECP256R1())
    unknown = SigningKey("nobody", "ES256", key.issuer, stranger.public_key(), stranger)
    impostor = SigningKey(key.kid, "ES256", key.issuer, stranger.public_key(), stranger)
    assert _statement_error(mock, signed(unknown)) == (400, "invalid_software_statement")
    assert _statement_error(mock, signed(impostor)) == (400, "invalid_software_statement")


def test_statement_wrong_issuer_and_missing_claims_are_refused(mock: Mock, keyset) -> None:
    key = es_key(keyset)
    other = SigningKey(key.kid, key.alg, "someone-else", key.public_key, key.private_key)
    assert _statement_error(mock, signed(other)) == (400, "invalid_software_statement")
    token = jwt.encode(
        {"iss": key.issuer, "iat": 1},
        key.private_key,
        algorithm="ES256",
        headers={"kid": key.kid, "typ": STATEMENT_TYP},
    )
    assert _statement_error(mock, token) == (400, "invalid_software_statement")


def test_statement_jku_and_x5u_are_ignored_and_never_fetched(mock: Mock, keyset) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/jwks.json"
    try:
        key = es_key(keyset)
        trusted = signed(key, extra_headers={"jku": url, "x5u": url})
        assert mock.register(trusted).status_code == 201
        stranger = ec.generate_private_key(ec.SECP256R1())
        attacker = SigningKey(key.kid, "ES256", key.issuer, stranger.public_key(), stranger)
        forged = signed(attacker, extra_headers={"jku": url, "x5u": url})
        assert _statement_error(mock, forged) == (400, "invalid_software_statement")
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()


def test_statement_not_a_jwt(mock: Mock) -> None:
    assert _statement_error(mock, "not-a-jwt") == (400, "invalid_software_statement")


def test_revoked_statement_is_unapproved(mock: Mock, statement: str) -> None:
    mock.state.store.revoke("dcrload-demo", 0)
    assert _statement_error(mock, statement) == (400, "unapproved_software_statement")


def test_rs256_statements_are_accepted(mock: Mock, keys_dir) -> None:
    assert mock.register((keys_dir / "rsa-app.jwt").read_text().strip()).status_code == 201


# --------------------------------------------------------------------------- request errors


@pytest.mark.parametrize(
    ("content", "content_type", "error"),
    [
        (b"{not json", "application/json", "invalid_request"),
        (b"[1, 2]", "application/json", "invalid_request"),
        (b"{}", "application/json", "invalid_request"),
        (b'{"software_statement": 5}', "application/json", "invalid_request"),
        (b"software_statement=x", "application/x-www-form-urlencoded", "invalid_request"),
        (b"\xff\xfe", "application/json", "invalid_request"),
    ],
)
def test_register_malformed_bodies(mock: Mock, content, content_type, error) -> None:
    response = mock.client.post(
        "/o/client/register", content=content, headers={**DEVICE, "Content-Type": content_type}
    )
    assert (response.status_code, response.json()["error"]) == (400, error)


@pytest.mark.parametrize("uri", ["not a uri", "https://", "https://a.example/#frag", 5])
def test_register_bad_redirect_uri(mock: Mock, statement: str, uri) -> None:
    response = mock.register(statement, redirect_uri=uri)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_redirect_uri")


def test_body_over_the_limit_is_413(mock: Mock) -> None:
    big = b"{" + b" " * (mock.state.settings.max_body_bytes + 10) + b"}"
    response = mock.client.post(
        "/o/client/register", content=big, headers={**DEVICE, "Content-Type": "application/json"}
    )
    assert response.status_code == 413

    async def chunks():
        yield b"a" * 10_000
        yield b"b" * 10_000

    response = mock.client.post(
        "/o/client/token",
        content=chunks(),  # streamed, no Content-Length
        headers={**DEVICE, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


def test_oversized_header_is_431(mock: Mock) -> None:
    response = mock.client.get("/healthz", headers={"X-Big": "a" * 10_000})
    assert response.status_code == 431


def _token_form(mock: Mock, form: str, headers: dict[str, str] | None = None):
    return mock.client.post(
        "/o/client/token",
        content=form.encode(),
        headers={**DEVICE, "Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
    )


def test_token_duplicated_parameters(mock: Mock, statement: str) -> None:
    cid, secret = mock.credentials(statement)
    form = f"grant_type=client_credentials&client_id={cid}&client_secret={secret}"
    assert _token_form(mock, form).status_code == 201
    for dup in ("&grant_type=client_credentials", f"&client_id={cid}", f"&client_secret={secret}"):
        response = _token_form(mock, form + dup)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_token_missing_or_unsupported_grant_type(mock: Mock, statement: str) -> None:
    cid, secret = mock.credentials(statement)
    missing = _token_form(mock, f"client_id={cid}&client_secret={secret}")
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    other = _token_form(mock, f"grant_type=password&client_id={cid}&client_secret={secret}")
    assert (other.status_code, other.json()["error"]) == (400, "unsupported_grant_type")


def test_token_wrong_content_type(mock: Mock, statement: str) -> None:
    cid, secret = mock.credentials(statement)
    response = mock.client.post(
        "/o/client/token",
        json={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
        headers=DEVICE,
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_wrong_secret_and_unknown_client_are_identical(mock: Mock, statement: str) -> None:
    cid, _ = mock.credentials(statement)
    wrong = mock.token(cid, "wrong-secret")
    unknown = mock.token("no-such-client", "wrong-secret")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.content == unknown.content
    assert wrong.json()["error"] == "invalid_client"
    drop = {"date"}
    assert {k: v for k, v in wrong.headers.items() if k not in drop} == {
        k: v for k, v in unknown.headers.items() if k not in drop
    }


def test_credentials_in_basic_and_body_are_refused(mock: Mock, statement: str) -> None:
    cid, secret = mock.credentials(statement)
    response = _token_form(
        mock,
        f"grant_type=client_credentials&client_id={cid}&client_secret={secret}",
        {"Authorization": _basic(cid, secret)},
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_basic_auth_works_in_adobe_profile_too(mock: Mock, statement: str) -> None:
    cid, secret = mock.credentials(statement)
    response = _token_form(
        mock, "grant_type=client_credentials", {"Authorization": _basic(cid, secret)}
    )
    assert response.status_code == 201
    bad = _token_form(mock, "grant_type=client_credentials", {"Authorization": "Basic !!!"})
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_client")


def test_revoked_client_gets_unauthorized_client_then_restored(mock: Mock, statement: str) -> None:
    cid, secret = mock.credentials(statement)
    mock.state.store.revoke("dcrload-demo", 0)
    response = mock.token(cid, secret)
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")
    mock.state.store.restore("dcrload-demo")
    assert mock.token(cid, secret).status_code == 201


def test_missing_credentials(mock: Mock) -> None:
    response = _token_form(mock, "grant_type=client_credentials")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_wrong_method_is_405_not_500(mock: Mock) -> None:
    assert mock.client.get("/o/client/token").status_code == 405
    # the hot routes (loadtests.mockserver.hot) leave what they do not match to Starlette
    assert mock.client.request("DELETE", "/api/v2/sp1/configuration").status_code == 405
    assert mock.client.get("/api/v2/sp1/nothing-here").status_code == 404
