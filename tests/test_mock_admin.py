"""The admin API, faults, statistics, reset and the OpenAPI document, in process."""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import time

import pytest
from mock_fixtures import DEVICE, Mock, keys_dir, keyset, make_mock, mock, statement  # noqa: F401

from loadtests.mockserver.faults import Latency


def test_admin_needs_the_key(mock: Mock) -> None:
    assert mock.client.get("/admin/stats").status_code == 401
    assert (
        mock.client.get("/admin/stats", headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    assert (
        mock.client.get("/admin/stats", headers={"X-Admin-Key": "test-admin-key"}).status_code
        == 200
    )
    assert mock.admin("GET", "stats").status_code == 200


def test_stats_count_routes_statuses_clients_tokens(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    mock.token("nobody", "x")
    mock.api("configuration", token)
    stats = mock.admin("GET", "stats").json()
    assert stats["requests"]["register"] == {"201": 1}
    assert stats["requests"]["token"] == {"201": 1, "400": 1}
    assert stats["requests"]["api"] == {"200": 1}
    assert stats["clients_registered"] == stats["clients_known"] == 1
    assert stats["tokens_issued"] == 1


def test_outage_503_with_duration(mock: Mock, statement: str) -> None:
    assert mock.admin("PUT", "outage", json={"mode": "503", "duration": 60}).status_code == 200
    response = mock.register(statement)
    assert (response.status_code, response.json()["error"]) == (503, "temporarily_unavailable")
    assert mock.client.get("/healthz").status_code == 200
    state = mock.admin("GET", "state").json()
    assert state["outage"]["mode"] == "503" and state["outage"]["remaining"] == 60
    mock.clock.advance(60)
    assert mock.register(statement).status_code == 201


def test_outage_off(mock: Mock, statement: str) -> None:
    mock.admin("PUT", "outage", json={"mode": "503"})
    assert mock.register(statement).status_code == 503
    mock.admin("DELETE", "outage")
    assert mock.register(statement).status_code == 201


def test_outage_hang_holds_then_answers_503(keyset, statement: str) -> None:
    m = make_mock(keyset, max_hang=0.2)
    m.admin("PUT", "outage", json={"mode": "hang"})
    started = time.monotonic()
    assert m.register(statement).status_code == 503
    assert 0.15 <= time.monotonic() - started < 2


def test_outage_401_rejects_every_token_while_dcr_works(mock: Mock, statement: str) -> None:
    token = mock.access_token(statement)
    assert mock.api("configuration", token).status_code == 200
    mock.admin("PUT", "outage", json={"mode": "401", "duration": 30})
    response = mock.api("configuration", token)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_access_token"
    fresh = mock.access_token(statement)  # register and token still answer 201
    assert mock.api("configuration", fresh).status_code == 401
    mock.clock.advance(30)
    assert mock.api("configuration", fresh).status_code == 200


def test_outage_slow(mock: Mock, statement: str) -> None:
    mock.admin("PUT", "outage", json={"mode": "slow", "delay": 0.2})
    started = time.monotonic()
    assert mock.register(statement).status_code == 201
    assert time.monotonic() - started >= 0.2


def test_latency_and_error_rate(mock: Mock, statement: str) -> None:
    assert (
        mock.admin("PUT", "latency", json={"distribution": "fixed", "ms": 100}).status_code == 200
    )
    started = time.monotonic()
    mock.register(statement)
    assert time.monotonic() - started >= 0.1
    mock.admin("DELETE", "latency")
    mock.admin("PUT", "error-rate", json={"rate": 1.0, "status": 500})
    assert mock.register(statement).status_code == 500
    mock.admin("PUT", "error-rate", json={"rate": 0.0})
    assert mock.register(statement).status_code == 201


@pytest.mark.parametrize(
    ("spec", "low", "high"),
    [
        ({"distribution": "uniform", "low_ms": 10, "high_ms": 20}, 0.010, 0.020),
        ({"distribution": "exponential", "mean_ms": 5}, 0.0, 30.0),
        ({"distribution": "lognormal", "median_ms": 5, "sigma": 0.1}, 0.003, 0.008),
    ],
)
def test_latency_distributions(spec: dict, low: float, high: float) -> None:
    import random

    from loadtests.mockserver.faults import parse_latency

    latency: Latency = parse_latency(spec)
    rng = random.Random(1)
    assert all(low <= latency.sample(rng) <= high for _ in range(200))


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("outage", {"mode": "melt"}),
        ("latency", {"distribution": "cauchy"}),
        ("latency", {"ms": -1}),
        ("error-rate", {"rate": 2}),
        ("error-rate", {"rate": 0.1, "status": 404}),
        ("ttl", {"ttl": 0}),
        ("ttl", {"jitter": 1.5}),
        ("throttle", {"rate": "fast"}),
        ("quirks", {"quirks": ["nonsense"]}),
    ],
)
def test_bad_admin_bodies_get_400(mock: Mock, path: str, body: dict) -> None:
    response = mock.admin("PUT", path, json=body)
    assert response.status_code == 400 and response.json()["error"]


def test_admin_malformed_json(mock: Mock) -> None:
    response = mock.admin("PUT", "ttl", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert mock.admin("POST", "revocations", json={}).status_code == 400


def test_ttl_change(mock: Mock, statement: str) -> None:
    mock.admin("PUT", "ttl", json={"ttl": 30})
    assert mock.token(*mock.credentials(statement)).json()["expires_in"] == 30


def test_throttle_change(mock: Mock) -> None:
    mock.admin("PUT", "throttle", json={"enabled": True, "rate": 1, "burst": 2})
    statuses = [
        mock.client.get("/api/v2/sp1/profiles", headers=DEVICE).status_code for _ in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_reset(mock: Mock, statement: str) -> None:
    client_id, secret = mock.credentials(statement)
    mock.admin("PUT", "outage", json={"mode": "503"})
    mock.admin("PUT", "ttl", json={"ttl": 5})
    mock.admin("POST", "revocations", json={"software_id": "dcrload-demo"})
    mock.admin("POST", "reset")
    state = mock.admin("GET", "state").json()
    assert state["outage"] is None and state["ttl"] == 21600
    assert state["revoked"] == ["dcrload-demo"]  # revocations are data
    mock.admin("POST", "reset", json={"data": True})
    assert mock.token(client_id, secret).json()["error"] == "invalid_client"
    assert mock.register(statement).status_code == 201


def test_openapi_document_lists_the_public_routes(mock: Mock) -> None:
    doc = mock.client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert {"/o/client/register", "/o/client/token"} <= set(doc["paths"])
    assert "/api/v2/{serviceProvider}/decisions/authorize/{mvpd}" in doc["paths"]
    assert not any(p.startswith("/admin") for p in doc["paths"])
    for item in doc["paths"].values():
        for operation in item.values():
            assert operation["responses"]
            for parameter in operation.get("parameters", []):
                assert parameter["in"] in ("path", "header", "query")


def test_openapi_follows_the_profile(keyset) -> None:
    m = make_mock(keyset, profile="rfc7591")
    doc = m.client.get("/openapi.json").json()
    assert "200" in doc["paths"]["/token"]["post"]["responses"]
