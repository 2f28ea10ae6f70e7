"""Overload: the mock sheds load (503/429 + Retry-After) instead of queueing without bound.

The rules in process (a request that queued too long, a client that left, the concurrency
limit, the bounded token memo), a client that gives up over a real socket, and a short
overload soak of a real mock at several times its measured capacity (bench_overload.py
--smoke, in a subprocess).
"""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mock_fixtures import (  # noqa: F401
    ADMIN_KEY,
    DEVICE,
    REPO,
    LiveServer,
    keys_dir,
    keyset,
    make_mock,
    start_server,
    statement,
    stop_server,
)

from loadtests.mockserver.gate import Gate
from loadtests.mockserver.shed import ARRIVED_KEY, GONE_KEY, Limiter
from loadtests.mockserver.tokens import Grant, TokenMemo

pytestmark = pytest.mark.xdist_group("mock_shed")  # module fixtures: once

# --------------------------------------------------------------------------- Limiter


def test_limiter_hands_slots_over_in_order() -> None:
    async def main() -> list[str]:
        limiter = Limiter(limit=2, deadline=5.0)
        order: list[str] = []

        async def work(name: str, hold: float) -> None:
            assert await limiter.acquire()
            order.append(name)
            await asyncio.sleep(hold)
            limiter.release()

        await asyncio.gather(work("a", 0.05), work("b", 0.05), work("c", 0), work("d", 0))
        assert limiter.active == 0
        return order

    assert asyncio.run(main()) == ["a", "b", "c", "d"]


def test_limiter_gives_up_after_the_deadline_and_stays_consistent() -> None:
    async def main() -> None:
        limiter = Limiter(limit=1, deadline=0.05)
        assert await limiter.acquire()
        started = time.monotonic()
        assert not await limiter.acquire()  # nobody releases within 50 ms
        assert 0.04 < time.monotonic() - started < 1.0
        limiter.release()
        assert limiter.active == 0
        assert await limiter.acquire()  # the slot is free again, no ghost waiter holds it
        limiter.release()
        assert limiter.active == 0

    asyncio.run(main())


# --------------------------------------------------------------------------- the gate


async def _call(app: Any, path: str, body: bytes, **scope_extra: Any) -> list[dict]:
    """One request through the ASGI app; the messages it sent."""
    sent: list[dict] = []
    headers = [(k.lower().encode(), v.encode()) for k, v in DEVICE.items()]
    headers.append((b"content-type", b"application/x-www-form-urlencoded"))
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "scheme": "http",
        "http_version": "1.1",
        "root_path": "",
        **scope_extra,
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


def _form(client_id: str, secret: str) -> bytes:
    return f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}".encode()


@pytest.mark.parametrize(
    ("status", "code"), [(503, "temporarily_unavailable"), (429, "too_many_requests")]
)
def test_a_request_that_queued_too_long_is_shed_with_retry_after(
    keyset, statement: str, status: int, code: str
) -> None:
    mock = make_mock(keyset, queue_deadline=0.2, shed_status=status)
    form = _form(*mock.credentials(statement))
    app = mock.app

    async def main() -> tuple[list[dict], list[dict]]:
        now = asyncio.get_running_loop().time()
        late = await _call(app, "/o/client/token", form, **{ARRIVED_KEY: now - 0.3})
        prompt = await _call(app, "/o/client/token", form, **{ARRIVED_KEY: now})
        return late, prompt

    late, prompt = asyncio.run(main())
    assert late[0]["status"] == status
    assert (b"retry-after", b"1") in late[0]["headers"]
    assert json.loads(late[1]["body"])["error"] == code
    assert prompt[0]["status"] == 201  # the control: the same request on time is served
    assert mock.state.stats.tokens_issued == 1 and mock.state.stats.shed == 1


def test_a_request_whose_client_left_is_not_served(keyset, statement: str) -> None:
    mock = make_mock(keyset)
    form = _form(*mock.credentials(statement))
    app = mock.app
    sent = asyncio.run(_call(app, "/o/client/token", form, **{GONE_KEY: lambda: True}))
    assert sent == []
    assert mock.state.stats.tokens_issued == 0
    assert mock.state.stats.requests["token"][499] == 1
    served = asyncio.run(_call(app, "/o/client/token", form, **{GONE_KEY: lambda: False}))
    assert served[0]["status"] == 201


def test_the_concurrency_limit_sheds_what_cannot_get_a_slot_in_time(keyset) -> None:
    mock = make_mock(keyset, max_concurrent=1, queue_deadline=0.1)

    async def slow(scope: Any, receive: Any, send: Any) -> None:
        await asyncio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    gate = Gate(slow, mock.state)

    async def main() -> list[int]:
        answers = await asyncio.gather(*(_call(gate, "/o/client/token", b"") for _ in range(3)))
        return sorted(a[0]["status"] for a in answers)

    assert asyncio.run(main()) == [200, 503, 503]
    assert all(limiter.active == 0 for limiter in gate.limiters.values())


# --------------------------------------------------------------------------- token memo


def test_token_memo_is_bounded_lru_and_drops_expired() -> None:
    memo = TokenMemo(3)
    for i in range(5):
        memo.put(f"t{i}", Grant("c", 0, 100 if i != 4 else 10))
    assert len(memo) == 3 and memo.get("t0", 0) is None
    assert memo.get("t2", 0) is not None  # t2 is now the most recently used
    memo.put("t5", Grant("c", 0, 100))
    assert memo.get("t3", 0) is None and memo.get("t2", 0) is not None
    assert memo.get("t4", 50) is None and len(memo) == 2  # expired: dropped


def test_issued_tokens_do_not_grow_memory_and_evicted_ones_still_verify(
    keyset, statement: str
) -> None:
    mock = make_mock(keyset, token_memo=10)
    client = mock.credentials(statement)
    tokens = [mock.token(*client).json()["access_token"] for _ in range(30)]
    assert len(mock.state.issuer.memo) == 10
    assert mock.api("configuration", tokens[0]).status_code == 200  # verified in full
    mock.clock.advance(7 * 3600)
    assert mock.api("configuration", tokens[-1]).status_code == 401  # expired in the memo


# --------------------------------------------------------------------------- real sockets


@pytest.fixture(scope="module")
def live(keys_dir: Path) -> Iterator[LiveServer]:
    server = start_server("--keys", str(keys_dir), "--db", ":memory:", "--no-throttle")
    yield server
    stop_server(server.process)


def test_a_client_that_gives_up_is_not_served(live: LiveServer, statement: str) -> None:
    admin = {"X-Admin-Key": ADMIN_KEY}
    with httpx.Client(base_url=live.url, timeout=5) as client:
        creds = client.post(
            "/o/client/register", json={"software_statement": statement}, headers=DEVICE
        ).json()
        before = client.get("/admin/stats", headers=admin).json()
        assert client.put("/admin/latency", json={"ms": 400}, headers=admin).is_success
        try:
            form = _form(creds["client_id"], creds["client_secret"])
            host, port = live.url.removeprefix("http://").rsplit(":", 1)
            sock = socket.create_connection((host, int(port)))
            sock.sendall(
                b"POST /o/client/token HTTP/1.1\r\nHost: x\r\nX-Device-Info: ZA==\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(form), form)
            )
            time.sleep(0.1)
            sock.close()  # gives up while the server is "slow"
            time.sleep(0.8)
        finally:
            client.delete("/admin/latency", headers=admin)
        after = client.get("/admin/stats", headers=admin).json()
    assert after["tokens_issued"] == before["tokens_issued"]
    assert (
        after["requests"]["token"].get("499", 0)
        == before["requests"].get("token", {}).get("499", 0) + 1
    )


def test_overload_smoke_sheds_keeps_admitted_latency_bounded_and_survives(
    tmp_path: Path,
) -> None:
    out = tmp_path / "overload.json"
    result = subprocess.run(
        [sys.executable, "bench/bench_overload.py", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["offered_rps"] > 4 * figures["capacity_rps"]
    assert figures["statuses"].get("503", 0) > 0 and figures["server"]["shed"] > 0
    assert figures["admitted"] > 0
    assert figures["admitted_latency_s"]["p99"] < 5.0  # generous: the deadline is 0.1 s
    assert figures["alive"] is True
    assert figures["rss_mb"]["end"] - figures["rss_mb"]["start"] < 50


class _Transport(asyncio.Transport):
    """Just enough of a socket transport to drive the protocol by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closing = self.paused = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 80), "peername": ("127.0.0.1", 5000)}.get(name, default)

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.out += data

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


@pytest.mark.parametrize("gives_up", [True, False])
def test_a_queued_request_whose_client_closed_is_dropped(
    keyset, statement: str, gives_up: bool
) -> None:
    """Protocol and gate together: the close is seen while the request waits its turn."""
    import uvicorn
    from uvicorn.server import ServerState

    from loadtests.mockserver.protocol import protocol_class

    mock = make_mock(keyset)
    form = _form(*mock.credentials(statement))
    request = (
        b"POST /o/client/token HTTP/1.1\r\nHost: x\r\nX-Device-Info: ZA==\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(form), form)
    )
    cls = protocol_class(10.0, 65536)
    config = uvicorn.Config(mock.app, http=cls, lifespan="off", log_level="warning")
    config.load()

    async def main() -> _Transport:
        protocol = cls(config=config, server_state=ServerState(), app_state={})
        transport = _Transport()
        protocol.connection_made(transport)
        protocol.data_received(request)  # the request's task is queued, not yet run
        assert not transport.paused  # reading goes on, so a close can be seen
        if gives_up:
            protocol.eof_received()
            transport.close()
            protocol.connection_lost(None)
        await asyncio.sleep(0.05)  # the queued task runs
        return transport

    transport = asyncio.run(main())
    if gives_up:
        assert transport.out == b""
        assert mock.state.stats.tokens_issued == 0
        assert mock.state.stats.requests["token"][499] == 1
    else:
        assert transport.out.startswith(b"HTTP/1.1 201")
        assert mock.state.stats.tokens_issued == 1
