"""Malformed input at the mock's edge gets a 4xx, never a 5xx, a reset or an endless wait.

In process first (every route, every body rule, claims, admin values), then over a real
socket for what only a socket shows: a 1 MB header, a head or a body that never arrives.
"""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import base64
import contextlib
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from mock_fixtures import (  # noqa: F401
    ADMIN_KEY,
    DEVICE,
    T0,
    LiveServer,
    Mock,
    es_key,
    keys_dir,
    keyset,
    mock,
    rfc_mock,
    signed,
    start_server,
    statement,
    stop_server,
)

from loadtests.mockserver.bodies import MAX_DEPTH, BadInput, parse_json

pytestmark = pytest.mark.xdist_group("mock_edge")  # module fixtures: once

NESTED = b"[" * 5000 + b"]" * 5000
SURROGATE = b'{"software_statement":"\\ud800"}'


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --------------------------------------------------------------------------- body rules


@pytest.mark.parametrize(
    "raw",
    [
        NESTED,
        b'{"a":' * 40 + b"1" + b"}" * 40,
        b'{"x": NaN}',
        b'{"x": Infinity}',
        b'{"x": -Infinity}',
        b'{"x": 1e999}',
        b'{"x": ' + b"1" * 401 + b"}",
        b'{"x": "\\ud800"}',
        b'{"x": "\\udfff tail"}',
        b'{"x": "\xff"}',
        b'{"x": ',
    ],
)
def test_parse_json_refuses(raw: bytes) -> None:
    with pytest.raises(BadInput):
        parse_json(raw)


def test_parse_json_keeps_what_is_fine() -> None:
    assert parse_json(b'{"a": "[[[{{{", "b": "\\ud83d\\ude00", "c": 1.5e3}') == {
        "a": "[[[{{{",
        "b": "\U0001f600",
        "c": 1500.0,
    }
    deep = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(deep) is not None


# --------------------------------------------------------------------------- routes


def _json_post(mock: Mock, path: str, raw: bytes, **headers: str) -> httpx.Response:
    return mock.client.post(
        path, content=raw, headers={**DEVICE, "Content-Type": "application/json", **headers}
    )


@pytest.mark.parametrize("raw", [SURROGATE, NESTED, b'{"software_statement": 1e999}'])
def test_register_bad_bodies_are_400(mock: Mock, rfc_mock: Mock, raw: bytes) -> None:
    for m in (mock, rfc_mock):
        response = _json_post(m, m.state.paths.register, raw)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    "uri", ["http://[::1", "http://[::1]:port/", "https://x:99999999999/", "x" * 5000]
)
def test_register_unparseable_redirect_uri_is_400(mock: Mock, statement: str, uri: str) -> None:
    response = mock.register(statement, redirect_uri=uri)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_redirect_uri"


def test_api_post_nested_body_is_400(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    mock.api("authenticate/Comcast_SSO", token, method="POST")
    for raw in (NESTED, b'{"resources": ["\\ud800"]}'):
        response = mock.api(
            "decisions/authorize/Comcast_SSO",
            token,
            method="POST",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw[:20]


@pytest.mark.parametrize("raw", [NESTED, SURROGATE, b'{"ttl": 1e999}', b"\xff"])
def test_admin_bad_bodies_are_400(mock: Mock, raw: bytes) -> None:
    for path in ("ttl", "throttle", "quirks", "outage", "latency", "error-rate"):
        response = mock.admin("PUT", path, content=raw)
        assert response.status_code == 400, path
    assert mock.admin("POST", "revocations", content=raw).status_code == 400


def test_token_form_with_invalid_utf8_is_400(mock: Mock) -> None:
    response = mock.client.post(
        mock.state.paths.token,
        content=b"grant_type=client_credentials&client_id=\xff\xfe",
        headers={**DEVICE, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


# --------------------------------------------------------------------------- claims


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"iat": int(T0) + 10 * 365 * 86400}, "future"),
        ({"iat": str(int(T0))}, "number"),
        ({"iat": True}, "number"),
        ({"exp": float("nan")}, "finite"),
        ({"exp": float("inf")}, "finite"),
        ({"exp": 10**400}, "range"),
        ({"nbf": float("-inf")}, "finite"),
    ],
)
def test_statement_time_claims_are_validated(mock: Mock, keyset, claims: dict, why: str) -> None:
    key = es_key(keyset)
    token = jwt.encode(
        {"iss": key.issuer, "software_id": "dcrload-demo", "iat": int(T0), **claims},
        key.private_key,
        algorithm=key.alg,
        headers={"kid": key.kid, "typ": "software-statement+jwt"},
    )
    response = mock.register(token)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_software_statement"
    assert why in response.json()["error_description"]


def test_statement_iat_within_the_leeway_is_accepted(mock: Mock, keyset) -> None:
    ahead = signed(es_key(keyset), extra_claims={"iat": int(T0) + 20})
    assert mock.register(ahead).status_code == 201


def test_statement_with_a_deeply_nested_header_is_refused(mock: Mock) -> None:
    header = _b64(b"[" * 2000 + b"]" * 2000)
    response = mock.register(f"{header}.{_b64(b'{}')}.{_b64(b'sig')}")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_software_statement"


def _token_key_jwt(mock: Mock, claims: dict, typ: str = "JWT") -> str:
    issuer = mock.state.issuer
    return jwt.encode(
        {"iss": issuer.issuer, "iat": int(T0), "exp": int(T0) + 600, **claims},
        issuer.private_key,
        algorithm=issuer.alg,
        headers={"kid": issuer.kid, "typ": typ},
    )


@pytest.mark.parametrize(
    "claims",
    [
        {"iat": int(T0) + 10 * 365 * 86400},
        {"iat": "now"},
        {"exp": float("nan")},
        {"exp": float("inf")},
        {"exp": 10**400},
        {"sub": 12},
    ],
)
def test_access_token_claims_are_validated(mock: Mock, statement: str, claims: dict) -> None:
    client_id, _ = mock.credentials(statement)
    token = _token_key_jwt(mock, {"sub": client_id, **claims})
    response = mock.api("configuration", token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_access_token"


def test_a_good_token_signed_by_hand_passes(mock: Mock, statement: str) -> None:
    """The control for the two tests around it: only the claim or typ changed makes a 401."""
    client_id, _ = mock.credentials(statement)
    assert mock.api("configuration", _token_key_jwt(mock, {"sub": client_id})).status_code == 200


def test_software_statement_signed_with_the_token_key_is_refused_at_the_api(
    mock: Mock, statement: str
) -> None:
    client_id, _ = mock.credentials(statement)
    token = _token_key_jwt(mock, {"sub": client_id}, typ="software-statement+jwt")
    response = mock.api("configuration", token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_access_token"


# --------------------------------------------------------------------------- admin values


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("ttl", {"ttl": 1e300}),
        ("ttl", {"ttl": 10**18}),
        ("error-rate", {"rate": 0.5, "status": 503.0}),
        ("error-rate", {"rate": 0.5, "status": True}),
        ("quirks", {"quirks": [{}]}),
        ("quirks", {"quirks": [["register-200"]]}),
        ("throttle", {"burst": 1e300}),
        ("throttle", {"burst": 2.5}),
        ("throttle", {"rate": 1e300}),
        ("outage", {"mode": "503", "duration": 1e300}),
        ("latency", {"distribution": "lognormal", "median_ms": 5, "sigma": 1e300}),
        ("latency", {"ms": 1e300}),
    ],
)
def test_admin_values_that_would_break_the_service_are_400(
    mock: Mock, statement: str, path: str, body: dict
) -> None:
    response = mock.admin("PUT", path, json=body)
    assert response.status_code == 400 and response.json()["error"]
    token = mock.token(*mock.credentials(statement))
    assert token.status_code == 201  # the service still works


def test_admin_sane_values_are_taken(mock: Mock) -> None:
    assert mock.admin("PUT", "ttl", json={"ttl": 3600}).status_code == 200
    assert mock.admin("PUT", "throttle", json={"burst": 20.0}).json()["burst"] == 20
    assert mock.admin("PUT", "error-rate", json={"rate": 0, "status": 502}).status_code == 200


# --------------------------------------------------------------------------- over a socket


@pytest.fixture(scope="module", params=["httptools", "h11"])
def edge(keys_dir: Path, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The mock on each HTTP parser (httptools is the default, h11 the fallback)."""
    server = start_server(
        "--http",
        request.param,
        "--keys",
        str(keys_dir),
        "--db",
        ":memory:",
        "--no-throttle",
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
    )
    yield server
    stop_server(server.process)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_the_three_known_500s_are_400_over_a_socket(edge: LiveServer, statement: str) -> None:
    with httpx.Client(base_url=edge.url, timeout=5) as client:
        json_headers = {**DEVICE, "Content-Type": "application/json"}
        for raw in (SURROGATE, NESTED):
            r = client.post("/o/client/register", content=raw, headers=json_headers)
            assert r.status_code == 400
        body = {"software_statement": statement, "redirect_uri": "http://[::1"}
        r = client.post("/o/client/register", json=body, headers=DEVICE)
        assert r.status_code == 400
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        assert client.put("/admin/ttl", content=NESTED, headers=admin).status_code == 400


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_huge_bearer_header_is_431_not_a_reset(edge: LiveServer, size: int) -> None:
    headers = {**DEVICE, "Authorization": "Bearer " + "a" * size}
    response = httpx.get(edge.url + "/api/v2/sp1/configuration", headers=headers, timeout=10)
    assert response.status_code == 431
    assert httpx.get(edge.url + "/healthz", timeout=5).status_code == 200


def test_a_head_that_never_ends_gets_408_in_bounded_time(edge: LiveServer) -> None:
    sock = _connect(edge.url)
    started = time.monotonic()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.5)
    sock.sendall(b"X-Slow: 1\r\n")  # a trickle does not move the deadline
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert time.monotonic() - started < 5


def test_a_silent_connection_is_closed(edge: LiveServer) -> None:
    sock = _connect(edge.url)
    started = time.monotonic()
    assert _read_all(sock) == b""
    sock.close()
    assert time.monotonic() - started < 5


def test_a_body_that_never_arrives_gets_408(edge: LiveServer) -> None:
    sock = _connect(edge.url)
    started = time.monotonic()
    sock.sendall(
        b"POST /o/client/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'X-Device-Info: ZA==\r\nContent-Length: 100\r\n\r\n{"software'
    )
    answer = _read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408")
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"] == "invalid_request"
    assert time.monotonic() - started < 5


def test_keep_alive_still_works_with_the_head_deadline(edge: LiveServer) -> None:
    with httpx.Client(base_url=edge.url, timeout=5) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(0.4)  # 1.2 s on one connection, more than the 1 s head deadline


def test_a_trickle_of_blank_lines_does_not_hold_the_connection(edge: LiveServer) -> None:
    sock = _connect(edge.url)
    started = time.monotonic()
    for _ in range(3):
        with contextlib.suppress(OSError):  # h11 may have closed already
            sock.sendall(b"\r\n")  # never a request line: the head deadline still runs
        time.sleep(0.3)
    answer = _read_all(sock)
    sock.close()
    assert answer == b"" or answer.startswith((b"HTTP/1.1 408", b"HTTP/1.1 400"))
    assert time.monotonic() - started < 5


def test_pipelined_requests_are_answered_in_order(edge: LiveServer) -> None:
    sock = _connect(edge.url)
    sock.sendall(
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = _read_all(sock)
    sock.close()
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", answer) == [b"200", b"404", b"200"]


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n",
        b"POST /o/client/register HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
        b"Upgrade: websocket\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /h\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n",  # not ASCII: llhttp refuses it
        b"CONNECT x:80 HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_upgrades_and_odd_targets_get_one_answer_below_500(edge: LiveServer, raw: bytes) -> None:
    sock = _connect(edge.url)
    started = time.monotonic()
    sock.sendall(raw)
    answer = b""
    while b"\r\n\r\n" not in answer and (chunk := sock.recv(65536)):
        answer += chunk
    sock.close()
    assert answer.startswith(b"HTTP/1.1 ") and 200 <= int(answer[9:12]) < 500, answer[:80]
    assert time.monotonic() - started < 3
