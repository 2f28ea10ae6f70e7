"""Throttling: a token bucket per device, exact under a fake clock (no sleeping)."""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import pytest
from mock_fixtures import DEVICE, Mock, keys_dir, keyset, make_mock, statement  # noqa: F401

from loadtests.mockserver.throttle import Throttle, device_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_exact() -> None:
    clock = Clock()
    throttle = Throttle(1.0, 10, clock)
    assert [throttle.allow("a") for _ in range(20)] == [True] * 10 + [False] * 10
    for _ in range(5):
        clock.now += 1.0
        assert throttle.allow("a") is True
        assert throttle.allow("a") is False
    clock.now += 0.5
    assert throttle.allow("a") is False
    clock.now += 0.5
    assert throttle.allow("a") is True
    assert [throttle.allow("b") for _ in range(11)] == [True] * 10 + [False]


def test_bucket_refills_to_burst_only() -> None:
    clock = Clock()
    throttle = Throttle(2.0, 3, clock)
    for _ in range(3):
        throttle.allow("a")
    clock.now += 100
    assert [throttle.allow("a") for _ in range(4)] == [True, True, True, False]


def test_device_key_order() -> None:
    both = {b"x-forwarded-for": b"10.0.0.1, 10.0.0.2", b"ap-device-identifier": b"d"}
    assert device_key(both, "127.0.0.1") == "xff:10.0.0.1"
    assert device_key({b"ap-device-identifier": b"d"}, "127.0.0.1") == "dev:d"
    assert device_key({}, "127.0.0.1") == "peer:127.0.0.1"


@pytest.fixture
def throttled(keyset) -> Mock:
    return make_mock(keyset, throttle=True)


def _statuses(mock: Mock, n: int, forwarded: str) -> list[int]:
    headers = {**DEVICE, "X-Forwarded-For": forwarded}
    return [
        mock.client.get("/api/v2/sp1/configuration", headers=headers).status_code for _ in range(n)
    ]


def test_twenty_at_once_then_one_per_second_per_device(throttled: Mock) -> None:
    first = _statuses(throttled, 20, "10.0.0.1")
    assert first.count(429) == 10 and first[:10].count(429) == 0  # 401: no token, but let through
    throttled.clock.advance(1.0)
    assert [s == 429 for s in _statuses(throttled, 2, "10.0.0.1")] == [False, True]
    # a second device has its own bucket
    assert _statuses(throttled, 11, "10.0.0.2").count(429) == 1


def test_throttle_covers_register_and_token(throttled: Mock, statement: str) -> None:
    headers = {**DEVICE, "X-Forwarded-For": "10.9.9.9"}
    statuses = [throttled.register(statement, headers=headers).status_code for _ in range(11)]
    assert statuses == [201] * 10 + [429]
    response = throttled.token("x", "y", headers=headers)
    assert response.status_code == 429
    assert response.json()["error"] == "too_many_requests"
    assert "retry-after" not in response.headers


def test_retry_after_when_configured(keyset) -> None:
    from loadtests.mockserver.settings import ThrottleSettings

    m = make_mock(keyset, throttle=ThrottleSettings(rate=0.5, burst=1, retry_after=True))
    m.client.get("/api/v2/sp1/configuration", headers=DEVICE)
    response = m.client.get("/api/v2/sp1/configuration", headers=DEVICE)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "too_many_requests"


def test_health_openapi_and_admin_are_not_throttled(throttled: Mock) -> None:
    assert {throttled.client.get("/healthz").status_code for _ in range(30)} == {200}
    assert {throttled.admin("GET", "stats").status_code for _ in range(30)} == {200}
