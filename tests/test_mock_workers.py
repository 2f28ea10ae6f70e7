"""``dcrload mock --workers 2``: what decides an answer is shared exactly between workers.

Every request here goes on a new connection, so the kernel hands it to either worker;
``/admin/stats`` says how many requests each one served, and each test checks that both
took part. Throttle buckets, faults, TTL, clients, revocations and counters must hold
whichever worker answers.
"""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from mock_fixtures import (  # noqa: F401
    ADMIN_KEY,
    DEVICE,
    LiveServer,
    keys_dir,
    start_server,
    statement,
    stop_server,
)

pytestmark = pytest.mark.xdist_group("mock_workers")  # module fixtures: once

ADMIN = {"X-Admin-Key": ADMIN_KEY}
N = 12  # requests per check: with two workers, both serve some of them
ASK_LIMIT = 400  # requests before concluding a worker never answers (the kernel may favour one)


def _worker_pids(url: str, want: int = 2) -> set[int]:
    """The workers seen answering /healthz: ask until `want` distinct ones (or ASK_LIMIT)."""
    seen: set[int] = set()
    for _ in range(ASK_LIMIT):
        seen.add(httpx.get(url + "/healthz").json()["worker"])
        if len(seen) >= want:
            break
    return seen


@pytest.fixture(scope="module")
def workers(keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    db = tmp_path_factory.mktemp("workers") / "mock.sqlite3"
    server = start_server("--keys", str(keys_dir), "--db", str(db), "--workers", "2")
    yield server
    assert stop_server(server.process) == 0


def _admin(url: str, method: str, path: str, **kw) -> httpx.Response:
    answer = httpx.request(method, f"{url}/admin/{path}", headers=ADMIN, timeout=10, **kw)
    assert answer.status_code == 200, answer.text
    return answer


def _fresh(url: str) -> None:
    """Faults, throttle, TTL and counters back to the start, on every worker."""
    _admin(url, "POST", "reset")
    time.sleep(0.3)  # every worker has re-read the settings and rewritten its counters


def _stats(url: str) -> dict:
    time.sleep(0.4)  # each worker writes its counters every 0.2 s
    return _admin(url, "GET", "stats").json()


def _both_served(stats: dict) -> None:
    assert len(stats["workers"]) == 2 and all(n > 0 for n in stats["workers"].values())


def _on_both_workers(play: Callable[[], dict]) -> None:
    """Play a check (it returns the stats after it) until both workers served part of it.

    The kernel picks the worker of each new connection and may give one all of a round's
    twelve; such a round proves nothing about sharing, so it is played again (at most
    three rounds, each from `_fresh`)."""
    for _ in range(3):
        stats = play()
        if len(stats["workers"]) == 2 and all(n > 0 for n in stats["workers"].values()):
            return
    _both_served(stats)


def test_two_workers_answer(workers: LiveServer) -> None:
    pids = _worker_pids(workers.url)
    assert len(pids) == 2 and workers.process.pid not in pids


def test_the_throttle_is_exact_across_workers(workers: LiveServer) -> None:
    def play() -> dict:
        _fresh(workers.url)
        _admin(workers.url, "PUT", "throttle", json={"enabled": True, "rate": 0.001, "burst": 5})
        headers = {**DEVICE, "X-Forwarded-For": "10.9.9.9"}
        statuses = [
            httpx.get(workers.url + "/api/v2/sp1/configuration", headers=headers).status_code
            for _ in range(N)
        ]
        assert statuses.count(429) == N - 5 and statuses[:5] == [401] * 5
        stats = _stats(workers.url)
        assert stats["requests"]["api"] == {"401": 5, "429": N - 5}
        return stats

    _on_both_workers(play)


def test_a_fault_set_through_one_worker_holds_on_all(workers: LiveServer, statement: str) -> None:
    def play() -> dict:
        _fresh(workers.url)
        _admin(workers.url, "PUT", "throttle", json={"enabled": False})
        _admin(workers.url, "PUT", "outage", json={"mode": "503"})
        body = {"software_statement": statement}
        register = workers.url + "/o/client/register"
        statuses = {httpx.post(register, json=body, headers=DEVICE).status_code for _ in range(N)}
        assert statuses == {503}
        _admin(workers.url, "DELETE", "outage")
        statuses = {httpx.post(register, json=body, headers=DEVICE).status_code for _ in range(N)}
        assert statuses == {201}
        return _stats(workers.url)

    _on_both_workers(play)


def test_clients_ttl_and_revocations_are_shared(workers: LiveServer, statement: str) -> None:
    def play() -> dict:
        _fresh(workers.url)
        _admin(workers.url, "PUT", "throttle", json={"enabled": False})
        _admin(workers.url, "PUT", "ttl", json={"ttl": 77})
        creds = httpx.post(
            workers.url + "/o/client/register",
            json={"software_statement": statement},
            headers=DEVICE,
        ).json()
        form = {"grant_type": "client_credentials", **creds}
        form = {k: form[k] for k in ("grant_type", "client_id", "client_secret")}
        token = workers.url + "/o/client/token"
        answers = [httpx.post(token, data=form, headers=DEVICE) for _ in range(N)]
        assert {a.status_code for a in answers} == {201}
        assert {a.json()["expires_in"] for a in answers} == {77}
        # a token issued by one worker is good on the other
        bearer = {**DEVICE, "Authorization": f"Bearer {answers[0].json()['access_token']}"}
        api = workers.url + "/api/v2/sp1/configuration"
        assert {httpx.get(api, headers=bearer).status_code for _ in range(N)} == {200}
        _admin(workers.url, "POST", "revocations", json={"software_id": "dcrload-demo"})
        refused = [httpx.post(token, data=form, headers=DEVICE) for _ in range(N)]
        assert {(a.status_code, a.json()["error"]) for a in refused} == {
            (400, "unauthorized_client")
        }
        _admin(workers.url, "DELETE", "revocations/dcrload-demo")
        stats = _stats(workers.url)
        assert stats["tokens_issued"] == N and stats["clients_registered"] == 1
        return stats

    _on_both_workers(play)


def test_a_killed_parent_takes_its_workers_along(keys_dir: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "mock.sqlite3")  # with :memory: the next mock would clean up after it
    server = start_server("--keys", str(keys_dir), "--db", db, "--workers", "2")
    pids = _worker_pids(server.url)
    assert len(pids) == 2
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited


def test_bad_worker_counts_exit_2(keys_dir: Path) -> None:
    from cli_runner import dcrload

    result = dcrload("mock", "--port", "0", "--keys", str(keys_dir), "--workers", "0")
    assert result.returncode == 2 and "--workers" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_outage_ended_through_one_worker_releases_requests_held_by_the_other(
    workers: LiveServer,
) -> None:
    import threading

    def play() -> dict:
        _fresh(workers.url)
        _admin(workers.url, "PUT", "throttle", json={"enabled": False})
        _admin(workers.url, "PUT", "outage", json={"mode": "hang"})
        held: list[tuple[int, float]] = []

        def hold() -> None:
            started = time.monotonic()
            answer = httpx.get(workers.url + "/api/v2/sp1/profiles", headers=DEVICE, timeout=30)
            held.append((answer.status_code, time.monotonic() - started))

        threads = [threading.Thread(target=hold) for _ in range(6)]  # some land on each worker
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        assert held == []  # all held
        _admin(workers.url, "DELETE", "outage")
        for thread in threads:
            thread.join(10)
        assert len(held) == 6
        assert {status for status, _ in held} == {503}  # a hang ends in 503, as with one worker
        assert max(seconds for _, seconds in held) < 5  # released at once, not after max_hang
        return _stats(workers.url)

    _on_both_workers(play)


def test_a_killed_mocks_private_store_is_removed_by_the_next(tmp_path: Path) -> None:
    import subprocess
    import sys

    from loadtests.commands.mock import PRIVATE_PREFIX, remove_stale_private_dirs

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp_path / f"{PRIVATE_PREFIX}{gone.pid}-abc"
    live = tmp_path / f"{PRIVATE_PREFIX}{os.getpid()}-def"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "mock.sqlite3").write_text("x")
    assert remove_stale_private_dirs(tmp_path) == [stale]
    assert not stale.exists() and live.exists()
