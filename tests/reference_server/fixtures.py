"""Start the reference server as a subprocess on a free loopback port, for pytest.

`start_reference` runs ``tests/reference_server/server.py --port 0`` and waits until it
prints where it listens and answers ``/healthz``; `stop_reference` terminates and reaps it.
`reference_keys` (session) signs software statements the server trusts;
`reference_server` (session) requires what a strict deployment would: an initial access
token and a ``contacts`` field, with statements verified.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from listening import start_listening

from dcrload.commandline.processes import reap
from loadtests.statements import write_statements

SERVER = Path(__file__).resolve().parent / "server.py"
LISTENING = "reference server listening on "
INITIAL_ACCESS_TOKEN = "reference-initial-access-token"
REQUIRED = "contacts"
METADATA = {"contacts": ["ops@dcrload.test"], "client_name": "dcrload test app"}


@dataclass
class Reference:
    url: str
    process: subprocess.Popen[str]
    lines: list[str]

    def clients(self) -> list[dict]:
        """What the server stored: client id, token count and metadata per client."""
        answer = httpx.get(self.url + "/_reference/clients", timeout=5)
        answer.raise_for_status()
        return answer.json()["clients"]


@dataclass(frozen=True)
class ReferenceKeys:
    directory: Path
    public_key: Path
    statement: Path
    initial_access_token: Path


def start_reference(*args: str, timeout: float = 20.0) -> Reference:
    url, process, lines = start_listening(
        [sys.executable, str(SERVER), "--port", "0", *args],
        LISTENING,
        env=dict(os.environ),
        stop=reap,
        timeout=timeout,
    )
    return Reference(url, process, lines)


def stop_reference(server: Reference) -> None:
    reap(server.process)


@pytest.fixture(scope="session")
def reference_keys(tmp_path_factory: pytest.TempPathFactory) -> ReferenceKeys:
    directory = tmp_path_factory.mktemp("reference-keys")
    key, written = write_statements(directory, ["dcrload-demo"])
    token_file = directory / "initial-access-token"
    token_file.write_text(INITIAL_ACCESS_TOKEN + "\n")
    token_file.chmod(0o600)
    return ReferenceKeys(
        directory, directory / f"{key.kid}.pub.pem", written["dcrload-demo"], token_file
    )


@pytest.fixture(scope="session")
def reference_server(reference_keys: ReferenceKeys) -> Iterator[Reference]:
    """Statements verified, an initial access token and ``contacts`` required, 1 h tokens."""
    server = start_reference(
        "--statement-key",
        str(reference_keys.public_key),
        "--initial-access-token-file",
        str(reference_keys.initial_access_token),
        "--require-metadata",
        REQUIRED,
    )
    yield server
    stop_reference(server)
