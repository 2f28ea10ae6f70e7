"""The mock over a real uvicorn socket on a free loopback port, and `dcrload mock` itself."""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from cli_runner import dcrload
from mock_fixtures import ADMIN_KEY, DEVICE, REPO, LiveServer, keys_dir, start_server, stop_server  # noqa: F401

pytestmark = pytest.mark.xdist_group("mock_server")  # module fixtures: once


@pytest.fixture(scope="module")
def live(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("live") / "mock.sqlite3"
    server = start_server("--keys", str(keys_dir), "--db", str(db))
    yield server
    assert stop_server(server.process) == 0


@pytest.fixture(scope="module")
def live_rfc(keys_dir: Path) -> Iterator[LiveServer]:
    server = start_server(
        "--keys",
        str(keys_dir),
        "--db",
        ":memory:",
        "--profile",
        "rfc7591",
        "--no-throttle",
    )
    yield server
    stop_server(server.process)


def _lifecycle(url: str, statement: str, headers: dict[str, str]) -> dict[str, httpx.Response]:
    with httpx.Client(base_url=url, timeout=5) as client:
        register = client.post(
            "/o/client/register", json={"software_statement": statement}, headers=headers
        )
        creds = register.json()
        token = client.post(
            "/o/client/token",
            data={
                "grant_type": "client_credentials",
                "client_id": creds["client_id"],
                "client_secret": creds["client_secret"],
            },
            headers=headers,
        )
        bearer = {**headers, "Authorization": f"Bearer {token.json()['access_token']}"}
        api = client.get("/api/v2/sp1/configuration", headers=bearer)
        return {"register": register, "token": token, "api": api}


def test_printed_lines(live: LiveServer) -> None:
    text = "\n".join(live.lines)
    assert "admin key from $DCRLOAD_ADMIN_KEY" in text
    assert ADMIN_KEY not in text
    assert "statements in" in text and "dcrload-demo.jwt" in text
    assert urlsplit(live.url).hostname == "127.0.0.1"


def test_adobe_pass_over_a_socket(live: LiveServer, keys_dir: Path) -> None:
    statement = (keys_dir / "dcrload-demo.jwt").read_text().strip()
    got = _lifecycle(live.url, statement, {**DEVICE, "X-Forwarded-For": "10.1.0.1"})
    assert got["register"].status_code == 201
    assert set(got["register"].json()) >= {"client_id", "client_secret", "client_id_issued_at"}
    assert got["token"].status_code == 201
    assert set(got["token"].json()) == {
        "access_token",
        "token_type",
        "expires_in",
        "created_at",
        "id",
    }
    assert got["token"].headers["cache-control"] == "no-store"
    assert got["api"].status_code == 200
    stats = httpx.get(live.url + "/admin/stats", headers={"X-Admin-Key": ADMIN_KEY}).json()
    assert stats["tokens_issued"] >= 1


def test_rfc7591_over_a_socket(live_rfc: LiveServer, keys_dir: Path) -> None:
    statement = (keys_dir / "dcrload-demo.jwt").read_text().strip()
    with httpx.Client(base_url=live_rfc.url, timeout=5) as client:
        register = client.post(
            "/register",
            json={
                "software_statement": statement,
                "token_endpoint_auth_method": "client_secret_post",
            },
        )
        assert register.status_code == 201
        creds = register.json()
        token = client.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                **{k: creds[k] for k in ("client_id", "client_secret")},
            },
        )
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"


def _raw_get(url: str, header_size: int) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        connection.request("GET", "/healthz", headers={"X-Big": "a" * header_size})
        return connection.getresponse().status
    finally:
        connection.close()


def test_oversized_headers_get_a_clean_4xx(live: LiveServer) -> None:
    assert _raw_get(live.url, 20_000) == 431  # the app's own limit
    assert 400 <= _raw_get(live.url, 200_000) < 500  # past the parser's 64 KiB: our 431
    assert httpx.get(live.url + "/healthz").status_code == 200


def test_body_over_limit_over_a_socket(live: LiveServer) -> None:
    response = httpx.post(
        live.url + "/o/client/register",
        content=b"x" * 100_000,
        headers={**DEVICE, "Content-Type": "application/json", "X-Forwarded-For": "10.1.0.2"},
    )
    assert response.status_code == 413


def test_restart_keeps_clients_profiles_and_the_token_key(keys_dir: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "mock.sqlite3")
    args = ("--keys", str(keys_dir), "--db", db, "--no-throttle")
    statement = (keys_dir / "dcrload-demo.jwt").read_text().strip()
    first = start_server(*args)
    try:
        got = _lifecycle(first.url, statement, DEVICE)
        creds = got["register"].json()
        token = got["token"].json()["access_token"]
        bearer = {**DEVICE, "Authorization": f"Bearer {token}"}
        assert (
            httpx.post(first.url + "/api/v2/sp1/authenticate/DTV", headers=bearer).status_code
            == 201
        )
    finally:
        assert stop_server(first.process) == 0
    second = start_server(*args)
    try:
        again = httpx.post(
            second.url + "/o/client/token",
            data={"grant_type": "client_credentials", **creds},
            headers=DEVICE,
        )
        assert again.status_code == 201
        profiles = httpx.get(second.url + "/api/v2/sp1/profiles", headers=bearer)
        assert profiles.status_code == 200  # the old token is still valid
        assert set(profiles.json()["profiles"]) == {"DTV"}
    finally:
        stop_server(second.process)


@pytest.mark.parametrize(
    "args",
    [
        ("mock", "--host", "0.0.0.0"),
        ("mock", "--host", "192.0.2.1", "--port", "0"),
        ("mock", "--port", "70000"),
        ("mock", "--keys", "/nonexistent/keys"),
        ("mock", "--port", "0", "--ttl", "0"),
        ("mock", "--port", "0", "--quirk", "nonsense"),
        ("mock", "--port", "0", "--paths", "register=nope"),
        ("mock", "--port", "0", "--scenario", "/nonexistent.toml"),
    ],
)
def test_mock_bad_input_exits_2_without_traceback(args: tuple[str, ...], tmp_path: Path) -> None:
    result = dcrload(*args, "--out", str(tmp_path), timeout=30)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("dcrload: error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_mock_without_keys_makes_statements(tmp_path: Path) -> None:
    server = start_server("--db", ":memory:", "--out", str(tmp_path / "run"))
    try:
        statement = (tmp_path / "run" / "keys" / "dcrload-demo.jwt").read_text().strip()
        got = _lifecycle(server.url, statement, DEVICE)
        assert got["api"].status_code == 200
    finally:
        assert stop_server(server.process) == 0


def test_mock_with_a_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[token]\nttl = "1h"\n[loadtest]\ntime_scale = 60\n'
        '[[faults.revocations]]\nat = "1h"\nsoftware_id = "dcrload-demo"\n'
        '[faults.revocations.rollout]\nsoftware_id = "dcrload-demo-2"\n'
    )
    server = start_server(
        "--db", ":memory:", "--out", str(tmp_path / "run"), "--scenario", str(scenario)
    )
    try:
        assert "token TTL 60 s" in "\n".join(server.lines)
        keys = tmp_path / "run" / "keys"
        assert {p.name for p in keys.glob("*.jwt")} == {"dcrload-demo.jwt", "dcrload-demo-2.jwt"}
    finally:
        stop_server(server.process)


def test_keep_alive_answers_are_not_held_by_nagle(live: LiveServer) -> None:
    """Sequential keep-alive requests must not wait ~40 ms each for a delayed ACK."""
    import time

    parts = urlsplit(live.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        timings = []
        for _ in range(7):
            started = time.perf_counter()
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            timings.append(time.perf_counter() - started)
    finally:
        connection.close()
    assert sorted(timings)[3] < 0.02, timings
