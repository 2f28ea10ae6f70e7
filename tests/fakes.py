"""Fakes written for the tests: a Locust-like client over a tiny DCR service, a clock.

Used in-process by `test_drivers.py` and, in a subprocess that imports Locust, by
`locust_user_check.py` (which drives the real `DcrUser` class over this client).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

TTL = 600.0


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status_code = status
        self.content = body
        self.headers = {"content-type": "application/json"}
        self.error = None
        self.marked: str = ""

    def success(self) -> None:
        self.marked = "success"

    def failure(self, why: str) -> None:
        self.marked = f"failure: {why}"


@dataclass
class FakeClient:
    """FastHttpSession's `request(..., catch_response=True)` over a tiny DCR service."""

    clock: FakeClock
    revoked_at: float = math.inf
    calls: list[tuple[float, str, str]] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    clients: dict[str, str] = field(default_factory=dict)

    @contextlib.contextmanager
    def request(self, method: str, path: str, *, name: str, data: Any, headers: Any,
                catch_response: bool) -> Iterator[FakeResponse]:  # fmt: skip
        assert catch_response
        now = self.clock.now()
        self.calls.append((now, name, path))
        revoked = now >= self.revoked_at
        if path.endswith("/register"):
            assert b"software_statement" in data and "X-Device-Info" in headers
            n = len(self.clients) + 1
            self.clients[f"c{n}"] = "s"
            body = b'{"client_id": "c%d", "client_secret": "s"}' % n
            status = 400 if revoked else 201
            if revoked:
                body = b'{"error": "unapproved_software_statement"}'
        elif path.endswith("/token"):
            status = 400 if revoked else 201
            body = (
                b'{"error": "unauthorized_client"}'
                if revoked
                else b'{"access_token": "tok", "expires_in": %d}' % int(TTL)
            )
        else:
            assert headers["Authorization"] == "Bearer tok"
            status = 401 if revoked else 200
            body = b'{"error": {"code": "revoked_client"}}' if revoked else b"{}"
        response = FakeResponse(status, body)
        yield response
        self.marks.append(f"{name} {response.marked}")


@dataclass
class FakeClock:
    """The driver clock, moved by the test: no real sleeping."""

    t: float = 0.0
    scale: float = 1.0
    epoch: float = 0.0

    def now(self) -> float:
        return self.t

    def wall(self, t: float) -> float:
        return self.epoch + t / self.scale
