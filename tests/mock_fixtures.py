"""Shared helpers for the mock-service tests: keys, a fake clock, apps, a live server.

Imported by the test modules (not a conftest, so as not to collide with the core's).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from listening import start_listening

from dcrload.commandline.processes import reap
from loadtests.mockserver import MockSettings, create_app
from loadtests.mockserver.settings import ThrottleSettings
from loadtests.mockserver.state import MockState
from loadtests.statements import KeySet, SigningKey, load_keys, sign_statement, write_statements

REPO = Path(__file__).resolve().parent.parent
ADMIN_KEY = "test-admin-key"
DEVICE = {"X-Device-Info": "ZGV2aWNl", "AP-Device-Identifier": "device-1"}
T0 = 1_800_000_000.0


class FakeClock:
    """A clock tests step by hand: `clock()` reads it, `clock.advance(s)` moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("keys")
    write_statements(out, ["dcrload-demo", "other-app"])
    write_statements(out, ["rsa-app"], alg="RS256")
    return out


@pytest.fixture(scope="session")
def keyset(keys_dir: Path) -> KeySet:
    return load_keys(keys_dir)


def es_key(keyset: KeySet) -> SigningKey:
    return next(k for k in keyset.keys.values() if k.alg == "ES256")


@pytest.fixture(scope="session")
def statement(keys_dir: Path) -> str:
    return (keys_dir / "dcrload-demo.jwt").read_text().strip()


class AsgiClient:
    """A synchronous face on ``httpx.AsyncClient(transport=ASGITransport(app))``.

    One event loop per client, so the app's state (and any asyncio objects) lives on it.
    """

    def __init__(self, app: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://mock.test"
        )

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.request(method, url, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def close(self) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()


@dataclass
class Mock:
    """An in-process mock: its test client, state and clock."""

    client: AsgiClient
    state: MockState
    clock: FakeClock
    app: Any = None  # the ASGI app itself, for tests that drive it with their own scope

    def register(self, statement: str, headers: dict[str, str] | None = None, **body: Any):
        path = self.state.paths.register
        return self.client.post(
            path, json={"software_statement": statement, **body}, headers=headers or DEVICE
        )

    def token(self, client_id: str, secret: str, headers: dict[str, str] | None = None):
        data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return self.client.post(self.state.paths.token, data=data, headers=headers or DEVICE)

    def credentials(self, statement: str) -> tuple[str, str]:
        answer = self.register(statement).json()
        return answer["client_id"], answer["client_secret"]

    def access_token(self, statement: str) -> str:
        return self.token(*self.credentials(statement)).json()["access_token"]

    def api(self, route: str, token: str, method: str = "GET", sp: str = "sp1", **kw: Any):
        headers = {**DEVICE, "Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        path = f"{self.state.paths.api_prefix}/{sp}/{route}"
        return self.client.request(method, path, headers=headers, **kw)

    def admin(self, method: str, path: str, **kw: Any):
        headers = {"Authorization": f"Bearer {ADMIN_KEY}", **kw.pop("headers", {})}
        return self.client.request(method, f"/admin/{path}", headers=headers, **kw)


def make_mock(keyset: KeySet, throttle: bool | ThrottleSettings = False, **settings: Any) -> Mock:
    """An in-process mock with a fake clock; the throttle is off unless asked for."""
    if not isinstance(throttle, ThrottleSettings):
        throttle = ThrottleSettings(enabled=throttle)
    settings["throttle"] = throttle
    clock = FakeClock()
    app = create_app(MockSettings(**settings), keyset.keys, admin_key=ADMIN_KEY, clock=clock)
    return Mock(AsgiClient(app), app.state, clock, app)


@pytest.fixture
def mock(keyset: KeySet) -> Iterator[Mock]:
    m = make_mock(keyset)
    yield m
    m.client.close()
    m.state.store.close()


@pytest.fixture
def rfc_mock(keyset: KeySet) -> Iterator[Mock]:
    m = make_mock(keyset, profile="rfc7591")
    yield m
    m.client.close()
    m.state.store.close()


def signed(key: SigningKey, software_id: str = "dcrload-demo", **kw: Any) -> str:
    return sign_statement(key, software_id, issued_at=int(T0), **kw)


# --------------------------------------------------------------------------- live server


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen[str]
    lines: list[str]


def start_server(
    *args: str, timeout: float = 20.0, env: dict[str, str] | None = None
) -> LiveServer:
    """Start ``python -m loadtests.mockserver --port 0 ARGS`` and wait until it listens.

    The admin key is `ADMIN_KEY`, given by environment (``DCRLOAD_ADMIN_KEY``) unless
    `env` or ARGS say otherwise.
    """
    url, process, lines = start_listening(
        [sys.executable, "-m", "loadtests.mockserver", "--port", "0", *args],
        "dcrload mock listening on ",
        env={**os.environ, "DCRLOAD_ADMIN_KEY": ADMIN_KEY, **(env or {})},
        stop=stop_server,
        cwd=REPO,
        timeout=timeout,
    )
    return LiveServer(url, process, lines)


def stop_server(process: subprocess.Popen[str]) -> int:
    """Terminate (SIGTERM) and reap; kill if it does not stop within 10 s."""
    status = reap(process)
    assert status is not None
    return status
