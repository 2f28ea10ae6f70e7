"""A load test's verdict where it must fail: nothing listens, registration is refused, the
API answers 404, the server's tokens live another time — each named in one line, before
any load is sent, and never "passed".

The refusing servers are not dcrload's: Python's own `http.server` (which answers POST
with 501) and the Authlib reference server (tests/reference_server/), whose missing REST
API answers 404.
"""
# ruff: noqa: F811  (pytest fixtures imported from reference_server.fixtures are parameters)

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cli_runner import dcrload_here
from reference_server.fixtures import (  # noqa: F401
    INITIAL_ACCESS_TOKEN,
    Reference,
    reference_keys,
    reference_server,
)

from dcrload.commandline.processes import free_port, reap
from loadtests.options import INITIAL_ACCESS_TOKEN_ENV

pytestmark = pytest.mark.xdist_group("loadtest_verdict")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "tests" / "scenarios" / "loadtest-small.toml"
REFERENCE = ROOT / "tests" / "scenarios" / "loadtest-reference.toml"
STATEMENT = ROOT / "tests" / "scenarios" / "statement.jwt"


def loadtest(scenario: Path, target: str, statement: Path, out: Path, *extra: str):
    """`dcrload loadtest` in this process (it imports no Locust; Locust is its subprocess)."""
    done = dcrload_here(
        "loadtest", str(scenario), "--target", target, "--software-statement", str(statement),
        "--duration", "6s", "--out", str(out), *extra,
        cwd=ROOT, env={INITIAL_ACCESS_TOKEN_ENV: INITIAL_ACCESS_TOKEN},
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def test_a_dead_port_fails_fast_with_the_reason(tmp_path: Path) -> None:
    started = time.monotonic()
    code, out, err = loadtest(
        SMALL, f"http://127.0.0.1:{free_port()}", STATEMENT, tmp_path / "run", "--time-scale", "60"
    )
    assert code == 1, out + err
    assert "cannot reach the target" in err and "ConnectError" in err
    assert "passed" not in out
    assert time.monotonic() - started < 30  # no Locust run, no warm-up against nothing


@pytest.fixture(scope="module")
def plain_http() -> Iterator[str]:
    """Python's http.server on an empty folder: 404 to GET, 501 to POST."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=ROOT / "tests" / "scenarios",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    reap(process)


def test_a_service_that_refuses_registration_fails_and_names_it(
    plain_http: str, tmp_path: Path
) -> None:
    code, out, err = loadtest(SMALL, plain_http, STATEMENT, tmp_path / "run", "--time-scale", "60")
    assert code == 5, out + err
    assert "service answered otherwise than predicted: register answered 501" in out
    assert "passed" not in out


def test_an_api_that_answers_404_fails_and_names_it(
    reference_server: Reference, reference_keys, tmp_path: Path
) -> None:
    """The reference server registers and issues tokens, but has no REST API."""
    code, out, err = loadtest(
        REFERENCE, reference_server.url, reference_keys.statement, tmp_path / "run",
        "--set", "loadtest.api=mock",
    )  # fmt: skip
    assert code == 5, out + err
    assert "api answered 404" in out
    assert "passed" not in out


def test_a_token_lifetime_mismatch_is_reported(
    reference_server: Reference, reference_keys, tmp_path: Path
) -> None:
    """The reference server's tokens live 1 h; the scenario says 4 s."""
    code, out, err = loadtest(
        REFERENCE, reference_server.url, reference_keys.statement, tmp_path / "run",
        "--ttl-mismatch", "stop",
    )  # fmt: skip
    assert code == 1, out + err
    assert "the server's tokens live 1h, the scenario's 4s" in err
    assert "passed" not in out
