"""One server semantics: the simulated server and the mock answer the same requests alike.

The same sequence of requests — registrations, tokens, API calls, too fast for the throttle,
during an outage, with an expired token, after a revocation — goes to `sim.server.SimServer`
(in scenario seconds) and to the mock (in-process, on a fake clock); both must answer every
one with the same status and the same error code, in the order of checks that
`dcrload.core.semantics` writes down (throttle, outage, request, standing).
"""

from __future__ import annotations

from typing import Any

import pytest
from mock_fixtures import DEVICE, T0, keys_dir, keyset, make_mock  # noqa: F401 (fixtures)

from dcrload.core import semantics
from dcrload.core.actions import CallApi, FetchToken, Register
from dcrload.core.streams import Stream
from dcrload.model.scenario import validate
from loadtests.mockserver.settings import ThrottleSettings
from sim.server import SimServer

TTL = 60.0
SCRIPT: list[tuple[float, str]] = [
    (0.0, "register"),
    (1.0, "token"),
    (2.0, "api"),
    (2.01, "api"),
    (2.02, "api"),
    (2.03, "api"),  # the bucket (burst 3) is empty now: throttled
    (5.0, "api"),
    (21.0, "api"),  # outage 503 from 20 s to 30 s
    (22.0, "token"),
    (22.01, "token"),
    (22.02, "register"),
    (22.03, "token"),  # throttled even in the outage: the gateway checks first
    (31.0, "api"),  # back
    (70.0, "api"),  # the token (issued at 1 s, 60 s) has expired
    (75.0, "token"),
    (80.0, "api"),
    (101.0, "api"),  # revoked at 100 s
    (103.0, "token"),
    (106.0, "register"),
]


def scenario() -> Any:
    return validate(
        {
            "scenario": {"name": "semantics", "duration": "1h"},
            "token": {"ttl": f"{TTL:g}s"},
            "server": {
                "network_rtt": 0.0,
                "service_time": {"dist": "fixed", "value": 0.0},
                "throttle": {"enabled": True, "rate": 1.0, "burst": 3},
            },
            "faults": {
                "outages": [{"start": "20s", "duration": "10s", "mode": "503"}],
                "revocations": [{"at": "100s", "software_id": "dcrload-demo"}],
            },
        },
        "test",
    )


def simulated() -> list[tuple[int, str]]:
    server = SimServer(scenario())
    rng = Stream(1)
    answers: list[tuple[int, str]] = []
    client: tuple[str, str] = ("", "")
    token = ""
    for t, kind in SCRIPT:
        if kind == "register":
            _, reply = server.answer(Register("dcrload-demo", "dcrload-demo"), "d1", t, rng)
            if reply.status == 201:
                client = (reply.body["client_id"], reply.body["client_secret"])
        elif kind == "token":
            _, reply = server.answer(FetchToken(*client), "d1", t, rng)
            if reply.status == 201:
                token = reply.body["access_token"]
        else:
            _, reply = server.answer(CallApi("configuration", token), "d1", t, rng)
        answers.append((reply.status, semantics.error_code(reply.body)))
    return answers


def mocked(keys: Any, statement: str) -> list[tuple[int, str]]:
    mock = make_mock(keys, throttle=ThrottleSettings(enabled=True, rate=1.0, burst=3), ttl=TTL)
    headers = {**DEVICE, "X-Forwarded-For": "10.0.0.1"}
    answers: list[tuple[int, str]] = []
    client: tuple[str, str] = ("", "")
    token = ""
    outage_started = revoked = False
    try:
        for t, kind in SCRIPT:
            mock.clock.now = T0 + t
            if t >= 20.0 and not outage_started:
                mock.admin("PUT", "outage", json={"mode": "503", "duration": 10.0})
                outage_started = True
            if t >= 100.0 and not revoked:
                mock.admin("POST", "revocations", json={"software_id": "dcrload-demo"})
                revoked = True
            if kind == "register":
                reply = mock.register(statement, headers=headers)
                if reply.status_code == 201:
                    client = (reply.json()["client_id"], reply.json()["client_secret"])
            elif kind == "token":
                reply = mock.token(*client, headers=headers)
                if reply.status_code == 201:
                    token = reply.json()["access_token"]
            else:
                reply = mock.api("configuration", token, headers={"X-Forwarded-For": "10.0.0.1"})
            body = reply.json() if reply.content else {}
            answers.append((reply.status_code, semantics.error_code(body)))
    finally:
        mock.client.close()
        mock.state.store.close()
    return answers


def test_the_simulated_server_and_the_mock_answer_alike(keyset: Any, keys_dir: Any) -> None:  # noqa: F811
    statement = (keys_dir / "dcrload-demo.jwt").read_text().strip()
    ours, theirs = simulated(), mocked(keyset, statement)
    for (t, kind), sim_answer, mock_answer in zip(SCRIPT, ours, theirs, strict=True):
        assert sim_answer == mock_answer, f"{kind} at {t} s: sim {sim_answer}, mock {mock_answer}"
    statuses = [status for status, _ in ours]
    assert statuses.count(429) == 2 and statuses.count(503) == 4  # the script meets every check
    assert (401, semantics.EXPIRED_ACCESS_TOKEN) in ours
    assert (401, semantics.REVOKED_CLIENT) in ours
    assert (400, semantics.UNAPPROVED_SOFTWARE_STATEMENT) in ours


@pytest.mark.parametrize(
    ("throttled", "outage", "route", "expected"),
    [
        (True, "503", "token", semantics.THROTTLED),
        (False, "503", "token", semantics.UNAVAILABLE),
        (False, "timeout", "register", semantics.SILENT),
        (False, "401", "api", semantics.TOKEN_REJECTED),
        (False, "401", "token", None),
        (False, None, "api", None),
    ],
)
def test_the_edge_checks_come_in_their_order(
    throttled: bool, outage: str | None, route: str, expected: Any
) -> None:
    assert semantics.edge_refusal(route, throttled=throttled, outage=outage) == expected


def test_an_error_body_reads_the_same_in_both_shapes() -> None:
    """OAuth's flat body and REST API V2's nested one give the same code and text, which
    the preflight's refusal and the load test's failure messages both quote."""
    oauth = {"error": "invalid_client", "error_description": "unknown client"}
    rest = {"error": {"code": "invalid_client", "message": "unknown client"}}
    for body in (oauth, rest):
        assert semantics.error_code(body) == "invalid_client"
        assert semantics.error_description(body) == "unknown client"
    assert semantics.error_description({"error": "x"}) == ""
    assert semantics.error_description("<html>") == ""
