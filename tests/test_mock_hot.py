"""The mock's hot path: what it reads and writes by hand must match what it replaced.

- the token's claims, written into a template, are what ``json.dumps`` writes;
- a form is read as ``parse_qsl`` reads it;
- the gate's own dispatch and Starlette's router (the routes `HotRoutes` gives it) answer
  every request alike;
- the protocol marks a request whose body is complete, on both parsers, and only then
  (an unmarked body gets the body deadline: test_mock_edge's 408 tests).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from listening import start_listening
from mock_fixtures import (  # noqa: F401
    DEVICE,
    REPO,
    AsgiClient,
    Mock,
    es_key,
    keys_dir,
    keyset,
    make_mock,
    signed,
    stop_server,
)

from loadtests.mockserver.bodies import BadInput, parse_form
from loadtests.mockserver.calls import first_values
from loadtests.mockserver.faults import Faults, Latency, Outage
from loadtests.mockserver.gate import Gate
from loadtests.mockserver.store import Store
from loadtests.mockserver.tokens import TokenIssuer

pytestmark = pytest.mark.xdist_group("mock_hot")

FORM_TEXT = st.text(alphabet=st.sampled_from(list("ab=&%+2Fé \x00;")), max_size=40)


@given(FORM_TEXT)
def test_a_form_is_read_as_parse_qsl_reads_it(text: str) -> None:
    assert parse_form(text.encode()) == parse_qsl(text, keep_blank_values=True)


def test_a_form_that_is_not_utf8_is_bad_input() -> None:
    with pytest.raises(BadInput, match="UTF-8"):
        parse_form(b"grant_type=\xff")


def _claims(token: str) -> bytes:
    segment = token.split(".")[1]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


@settings(max_examples=40, deadline=None)
@given(
    client_id=st.text(max_size=30),
    issuer=st.text(min_size=1, max_size=30),
    scopes=st.lists(st.text(max_size=8), max_size=3),
    rfc=st.booleans(),
    lifetime=st.integers(1, 10**6),
)
def test_issued_claims_are_what_json_dumps_writes(
    store: Store, client_id: str, issuer: str, scopes: list[str], rfc: bool, lifetime: int
) -> None:
    audience = issuer + "/rs" if rfc else None
    issuer_ = TokenIssuer(store, "ES256", issuer, tuple(scopes), lambda: 1_800_000_000.5, audience)
    token, jti, iat = issuer_.issue(client_id, lifetime)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": client_id,
        "iat": iat,
        "nbf": iat,
        "exp": iat + lifetime,
        "jti": jti,
    }
    if rfc:
        claims.update(aud=audience, client_id=client_id, scope=" ".join(scopes))
    else:
        claims["scopes"] = scopes
    assert _claims(token) == json.dumps(claims, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    kept = Store(":memory:")  # one signing key for every example
    yield kept
    kept.close()


def test_header_lookups_take_the_first_value_as_starlette_does() -> None:
    raw = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3")]
    assert first_values(raw) == {b"a": b"1", b"b": b"2"}
    assert first_values([(b"a", b"1")]) == {b"a": b"1"}


def test_faults_are_quiet_only_when_none_is_set() -> None:
    assert Faults().quiet()
    assert not Faults(outage=Outage()).quiet()
    assert not Faults(latency=Latency()).quiet()
    assert not Faults(error_rate=0.5).quiet()


# --------------------------------------------------------------------------- two dispatches


def _comparable(response: Any, exact: bool) -> tuple[Any, ...]:
    """What must match between the two dispatches (`exact`: the body, byte for byte)."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "content-length")
    if exact or not response.content:
        return response.status_code, headers, response.content
    body = response.json()
    shape = sorted(body) if isinstance(body, dict) else type(body).__name__
    return response.status_code, [k for k, _ in headers], shape


def test_the_gate_and_the_router_answer_every_hot_request_alike(keyset) -> None:  # noqa: F811
    """The same requests through the gate's dispatch and through Starlette's router (a gate
    without hot routes), on one state: statuses, headers and bodies agree (random ids and
    tokens aside, whose answers must have the same keys)."""
    hot = make_mock(keyset)
    routed = Mock(AsgiClient(Gate(hot.app.app, hot.state, None)), hot.state, hot.clock)
    statement = signed(es_key(keyset))
    try:
        for mock in (hot, routed):
            assert mock.register(statement).status_code == 201
        cid, secret = hot.credentials(statement)
        token = hot.token(cid, secret).json()["access_token"]
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        cases: list[tuple[str, str, dict[str, Any], bool]] = [
            ("POST", hot.state.paths.token, {"data": {"grant_type": "client_credentials",
             "client_id": cid, "client_secret": secret}, "headers": DEVICE}, False),
            ("POST", hot.state.paths.token, {"data": {"grant_type": "client_credentials",
             "client_id": cid, "client_secret": "wrong"}, "headers": DEVICE}, True),
            ("POST", hot.state.paths.token, {"content": b"a=1&a=2",
             "headers": {**DEVICE, **form}}, True),
            ("POST", hot.state.paths.token, {"content": b"x", "headers": DEVICE}, True),
            ("POST", hot.state.paths.token, {"data": {"grant_type": "client_credentials"},
             "headers": {**DEVICE, "Authorization": "Basic !!"}}, True),
            ("POST", hot.state.paths.register, {"json": {}, "headers": DEVICE}, True),
            ("POST", hot.state.paths.register, {"json": {"software_statement": statement}}, True),
            ("POST", hot.state.paths.register,
             {"json": {"software_statement": statement}, "headers": DEVICE}, False),
        ]  # fmt: skip
        api = f"{hot.state.paths.api_prefix}/sp1"
        bearer = {**DEVICE, "Authorization": f"Bearer {token}"}
        for method, route, exact in [
            ("GET", "configuration", True),
            ("HEAD", "configuration", True),
            ("GET", "profiles", True),
            ("POST", "authenticate/mvpd_1", False),
            ("GET", "decisions/authorize/mvpd_1?resources=a&resources=b", True),
            ("POST", "decisions/authorize/mvpd_1", True),
            ("GET", "decisions/authorize/nobody", True),
            ("GET", "configuration?access_token=x", True),
            ("DELETE", "configuration", True),
        ]:
            cases.append((method, f"{api}/{route}", {"headers": bearer}, exact))
        cases.append(("GET", f"{api}/configuration", {"headers": DEVICE}, True))
        cases.append(("GET", f"{api}/configuration", {"headers": {**DEVICE,
                      "Authorization": "Bearer " + token[:-4] + "AAAA"}}, True))  # fmt: skip
        cases.append(("GET", hot.state.paths.token, {}, True))
        cases.append(("GET", f"{api}/nowhere", {"headers": bearer}, True))
        for method, path, kw, exact in cases:
            one = hot.client.request(method, path, **kw)
            other = routed.client.request(method, path, **kw)
            assert _comparable(one, exact) == _comparable(other, exact), (method, path)
        assert hot.client.request("HEAD", f"{api}/configuration", headers=bearer).content == b""
    finally:
        routed.client.close()
        hot.client.close()
        hot.state.store.close()


# --------------------------------------------------------------------------- the protocol mark

MARKING_APP = textwrap.dedent(
    """
    import json, sys, types
    from loadtests.mockserver.calls import BODY_COMPLETE_KEY
    from loadtests.mockserver.serve import bind, serve

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        complete = bool(scope.get(BODY_COMPLETE_KEY))  # as the gate sees it, before reading
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = json.dumps({"complete": complete, "size": size}).encode()
        headers = [(b"content-type", b"application/json"),
                   (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    app.state = types.SimpleNamespace(
        settings=types.SimpleNamespace(http=sys.argv[1], header_timeout=5.0))
    serve(app, bind("127.0.0.1", 0))
    """
)


@pytest.fixture(scope="module", params=["httptools", "h11"])
def marking(request: pytest.FixtureRequest) -> Iterator[str]:
    url, process, _lines = start_listening(
        [sys.executable, "-c", MARKING_APP, request.param],
        "dcrload mock listening on ",
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stop=stop_server,
        cwd=REPO,
        timeout=20,
    )
    yield url
    stop_server(process)


def _answers(url: str, parts: list[bytes], count: int) -> list[dict[str, Any]]:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for i, part in enumerate(parts):
            if i:
                time.sleep(0.2)  # the next part arrives later, in its own segment
            sock.sendall(part)
        data = b""
        while len(bodies := re.findall(rb"\{[^}]*\}", data)) < count:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [json.loads(body) for body in bodies]


def _post(body: bytes) -> bytes:
    return b"POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def test_the_protocol_marks_a_body_complete_only_once_it_is(marking: str) -> None:
    body = b"grant_type=client_credentials"
    whole = _answers(marking, [_post(body)], 1)
    assert whole == [{"complete": True, "size": len(body)}]
    split = _answers(marking, [_post(body)[:-5], _post(body)[-5:]], 1)
    assert split == [{"complete": False, "size": len(body)}]
    no_body = _answers(marking, [b"GET /t HTTP/1.1\r\nHost: x\r\n\r\n"], 1)
    assert no_body == [{"complete": True, "size": 0}]
    pipelined = _answers(marking, [_post(body) + _post(b"x")], 2)
    assert pipelined == [{"complete": True, "size": len(body)}, {"complete": True, "size": 1}]
