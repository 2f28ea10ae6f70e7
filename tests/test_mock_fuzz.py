"""Fuzzing the mock: schemathesis from its OpenAPI document, hypothesis over raw requests.

- schemathesis generates requests from ``/openapi.json`` for both profiles, with and
  without a valid access token, and checks each answer: no 5xx, a documented status, the
  documented content type and body schema;
- hypothesis sends raw ASGI requests (any method, path, headers and body bytes, JSON
  made to hit the parsers' edges) and checks that each gets one answer below 500;
- a smaller hypothesis run sends raw bytes on a real socket, after which the server still
  answers.

Bounded: a few dozen examples per operation, so the file runs in well under 20 s.
"""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mock_fixtures import (  # noqa: F401
    ADMIN_KEY,
    LiveServer,
    keys_dir,
    start_server,
    stop_server,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from loadtests.mockserver import MockSettings, create_app
from loadtests.mockserver.settings import ThrottleSettings
from loadtests.statements import load_keys, write_statements

pytestmark = pytest.mark.xdist_group("mock_fuzz")  # module fixtures: once

EXAMPLES = 12  # per operation and variant
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


def _app(profile: str, keys: Path) -> Any:
    write_statements(keys, ["dcrload-demo"])
    settings_ = MockSettings(profile=profile, throttle=ThrottleSettings(enabled=False))
    return create_app(settings_, load_keys(keys).keys, admin_key=ADMIN_KEY)


def _token(app: Any, keys: Path, profile: str) -> str:
    """A valid access token of `app`, got through its own routes."""
    statement = (keys / "dcrload-demo.jwt").read_text().strip()
    paths = app.state.paths
    device = {"X-Device-Info": "ZnV6eg==", "AP-Device-Identifier": "fuzz"}

    async def get() -> str:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mock.test") as c:
            body: dict[str, Any] = {"software_statement": statement}
            if profile == "rfc7591":
                body["token_endpoint_auth_method"] = "client_secret_post"
            creds = (await c.post(paths.register, json=body, headers=device)).json()
            form = {"grant_type": "client_credentials", **creds}
            form = {k: form[k] for k in ("grant_type", "client_id", "client_secret")}
            answer = await c.post(paths.token, data=form, headers=device)
            return str(answer.json()["access_token"])

    return asyncio.run(get())


def _schema(profile: str, tmp: Path) -> tuple[Any, Any, str]:
    app = _app(profile, tmp)
    return schemathesis.openapi.from_asgi("/openapi.json", app), app, _token(app, tmp, profile)


# schemathesis reads the document when the module is imported, so the apps are built here
_TMP = Path(tempfile.mkdtemp(prefix="dcrload-fuzz-"))
ADOBE, ADOBE_APP, ADOBE_TOKEN = _schema("adobe-pass", _TMP / "adobe")
RFC, RFC_APP, RFC_TOKEN = _schema("rfc7591", _TMP / "rfc")


@ADOBE.parametrize()
@FUZZ
def test_adobe_pass_without_a_token(case: Any) -> None:
    assert case.call_and_validate(checks=CHECKS).status_code < 500


@ADOBE.parametrize()
@FUZZ
def test_adobe_pass_with_a_valid_token(case: Any) -> None:
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {ADOBE_TOKEN}"}, checks=CHECKS
    )
    assert response.status_code < 500


@RFC.parametrize()
@FUZZ
def test_rfc7591_without_a_token(case: Any) -> None:
    assert case.call_and_validate(checks=CHECKS).status_code < 500


@RFC.parametrize()
@FUZZ
def test_rfc7591_with_a_valid_token(case: Any) -> None:
    response = case.call_and_validate(
        headers={"Authorization": f"Bearer {RFC_TOKEN}"}, checks=CHECKS
    )
    assert response.status_code < 500


# --------------------------------------------------------------------------- raw ASGI

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.sampled_from(
    ["software_statement", "redirect_uri", "redirect_uris", "grant_types", "client_name",
     "token_endpoint_auth_method", "resources", "ttl", "status", "rate", "burst", "quirks",
     "mode", "duration", "distribution", "ms", "sigma", "software_id", "data"]
)  # fmt: skip
TOKENISH = st.sampled_from(
    [ADOBE_TOKEN, ADOBE_TOKEN[:-3] + "AAA", "a.b.c", "e30.e30.", "\ud800", "[[[[", "x" * 300]
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(FIELDS, JSON_VALUES | TOKENISH, max_size=5).map(
        lambda d: json.dumps(d).encode("utf-8", "surrogatepass")
    ),
    st.integers(1, 20_000).map(lambda n: b"[" * n + b"]" * n),
    st.sampled_from([b'{"software_statement":"\\ud800"}', b"grant_type=client_credentials&"]),
)
HEADER_VALUE = st.binary(max_size=120).map(lambda b: bytes(c for c in b if c >= 0x20 or c == 0x09))
AUTHORIZATION = st.one_of(
    HEADER_VALUE,
    TOKENISH.map(lambda t: b"Bearer " + t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"Bearer " + ADMIN_KEY.encode(), b"Basic !!!", b"Basic YTpi", b"bearer"]),
)
HEADERS = st.lists(
    st.one_of(
        st.tuples(st.just(b"authorization"), AUTHORIZATION),
        st.tuples(
            st.just(b"content-type"),
            st.sampled_from(
                [b"application/json", b"application/x-www-form-urlencoded", b"text/plain"]
            )
            | HEADER_VALUE,
        ),
        st.tuples(st.just(b"content-length"), st.integers(-5, 10**6).map(lambda n: b"%d" % n)),
        st.tuples(
            st.sampled_from(
                [b"x-device-info", b"ap-device-identifier", b"x-forwarded-for", b"x-admin-key"]
            ),
            HEADER_VALUE,
        ),
    ),
    max_size=6,
)
PATHS = st.one_of(
    st.sampled_from(
        ["/o/client/register", "/o/client/token", "/register", "/token", "/healthz",
         "/openapi.json", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server",
         "/api/v2/sp1/configuration", "/api/v2/sp1/profiles", "/api/v2/%ED%A0%80/profiles",
         "/api/v2/sp1/authenticate/Comcast_SSO", "/api/v2/sp1/decisions/authorize/Comcast_SSO",
         "/admin/ttl", "/admin/throttle", "/admin/quirks", "/admin/error-rate", "/admin/outage",
         "/admin/latency", "/admin/revocations", "/admin/revocations/x", "/admin/reset",
         "/admin/stats", "/admin/state"]
    ),
    st.text(max_size=30).map(lambda t: "/" + t),
)  # fmt: skip
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW"])


async def _asgi(app: Any, method: str, path: str, headers: list, body: bytes, query: bytes) -> list:
    sent: list[dict] = []
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": query, "headers": headers, "client": ("127.0.0.1", 9),
        "server": ("127.0.0.1", 80), "scheme": "http", "http_version": "1.1",
        "root_path": "", "asgi": {"version": "3.0"},
    }  # fmt: skip
    chunks = [body[i : i + 64] for i in range(0, len(body), 64)] or [b""]

    async def receive() -> dict:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        await asyncio.sleep(3600)  # a client that has sent everything waits
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async with asyncio.timeout(5):
        await app(scope, receive, send)
    return sent


@pytest.mark.parametrize("app", [ADOBE_APP, RFC_APP], ids=["adobe-pass", "rfc7591"])
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(
    method=METHODS,
    path=PATHS,
    headers=HEADERS,
    body=BODIES,
    query=st.one_of(st.just(b""), st.binary(max_size=40), st.just(b"access_token=x")),
)
def test_raw_requests_always_get_one_answer_below_500(
    app: Any, method: str, path: str, headers: list, body: bytes, query: bytes
) -> None:
    try:
        sent = asyncio.run(_asgi(app, method, path, headers, body, query))
    finally:
        app.state.reset()  # an admin call the fuzzer made must not leak into the next one
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    assert starts[0]["status"] < 500, (starts[0], sent[1:])
    assert sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body")


# --------------------------------------------------------------------------- raw socket


@pytest.fixture(scope="module")
def live(keys_dir: Path) -> Iterator[LiveServer]:
    server = start_server(
        "--keys", str(keys_dir), "--db", ":memory:", "--no-throttle",
        "--header-timeout", "0.5", "--body-timeout", "0.5",
    )  # fmt: skip
    yield server
    stop_server(server.process)


LINE = st.binary(max_size=60).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
REQUEST_LINES = st.one_of(
    st.tuples(METHODS, PATHS).map(
        lambda mp: f"{mp[0]} {mp[1]} HTTP/1.1".encode("utf-8", "surrogatepass")
    ),
    LINE,
    st.sampled_from([b"GET / HTTP/9.9", b"GET  HTTP/1.1", b"\x00\x01\x02", b"GET /healthz"]),
)


def send_raw(live: LiveServer, raw: bytes) -> bytes:
    """Send bytes on a fresh connection; return whatever came back within 5 s."""
    host, port = live.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(raw)
        answer = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return answer


def test_raw_bytes_on_a_socket_never_get_a_5xx_and_the_server_survives(live: LiveServer) -> None:
    """Whatever arrives on the socket, the answer (if any) is HTTP/1.1 and not a 5xx; most
    raw requests get one; afterwards the server still answers and still runs."""
    answered: list[bool] = []

    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(
        line=REQUEST_LINES,
        headers=st.lists(st.tuples(LINE, LINE), max_size=5),
        body=BODIES,
        declare=st.booleans(),
    )
    def fuzz(line: bytes, headers: list, body: bytes, declare: bool) -> None:
        raw = line + b"\r\nHost: x\r\nConnection: close\r\n"
        raw += b"".join(k + b": " + v + b"\r\n" for k, v in headers)
        if declare:
            raw += b"Content-Length: %d\r\n" % len(body)
        raw += b"\r\n" + (body if declare else b"")
        answer = send_raw(live, raw)
        answered.append(bool(answer))
        if answer:
            assert answer.startswith(b"HTTP/1.1 "), answer[:80]
            status = int(answer[9:12])
            assert status < 500, answer[:300]

    fuzz()
    assert sum(answered) > len(answered) / 2  # most raw requests got an answer to check
    assert httpx.get(live.url + "/healthz", timeout=5).status_code == 200
    assert live.process.poll() is None
