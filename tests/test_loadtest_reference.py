"""`dcrload loadtest` against the reference RFC 7591 server (Authlib).

Short real-time runs of `tests/scenarios/loadtest-reference.toml`: ten instances register
through RFC 8414 discovery, with the scenario's metadata, an initial access token from the
environment and client_secret_basic, then refresh 4-second tokens. With api = "none" (the
scenario's; 9 s of it) nothing else is sent; with api set to the reference server's
protected resource (8 s) the API calls go through Authlib's RFC 9068 validator. What the server
stored is read back from it.
"""
# ruff: noqa: F811  (pytest fixtures imported from reference_server.fixtures are parameters)

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import dcrload_here
from reference_server.fixtures import (  # noqa: F401
    INITIAL_ACCESS_TOKEN,
    Reference,
    reference_keys,
    start_reference,
    stop_reference,
)

from loadtests.options import INITIAL_ACCESS_TOKEN_ENV

pytestmark = pytest.mark.xdist_group("loadtest_reference")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = ROOT / "tests" / "scenarios" / "loadtest-reference.toml"
INSTANCES = 10


@pytest.fixture(scope="module")
def short_tokens(reference_keys) -> Iterator[Reference]:
    """The reference server with 4-second tokens, as the scenario's [token] ttl says."""
    server = start_reference(
        "--statement-key",
        str(reference_keys.public_key),
        "--initial-access-token-file",
        str(reference_keys.initial_access_token),
        "--require-metadata",
        "contacts",
        "--ttl",
        "4",
    )
    yield server
    stop_reference(server)


def _loadtest(server: Reference, keys, out: Path, *extra: str) -> tuple[int, str, Path]:
    """`dcrload loadtest` in this process (it imports no Locust; Locust is its subprocess)."""
    done = dcrload_here(
        "loadtest", str(SCENARIO), "--target", server.url, "--software-statement",
        str(keys.statement), "--out", str(out), *extra,
        cwd=ROOT, env={INITIAL_ACCESS_TOKEN_ENV: INITIAL_ACCESS_TOKEN},
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr, out


@pytest.fixture(scope="module")
def reference_run(short_tokens, reference_keys, tmp_path_factory) -> tuple[int, str, Path]:
    before = {c["client_id"] for c in short_tokens.clients()}
    out = tmp_path_factory.mktemp("none") / "run"
    run = _loadtest(short_tokens, reference_keys, out, "--duration", "9s")
    short_tokens.ran_clients = [  # type: ignore[attr-defined]
        c for c in short_tokens.clients() if c["client_id"] not in before
    ]
    return run


def test_the_load_test_registers_through_discovery(reference_run, short_tokens) -> None:
    _code, output, _out = reference_run
    assert "RFC 8414 metadata" in output and "client_secret_basic" in output, output
    clients = short_tokens.ran_clients
    # one registration per instance, no retry storm, and the preflight's own (one pass of
    # the lifecycle before the run)
    assert len(clients) == INSTANCES + 1, output
    for client in clients:
        metadata = client["metadata"]
        assert metadata["response_types"] == [] and metadata["contacts"] == ["ops@dcrload.test"]
        assert metadata["token_endpoint_auth_method"] == "client_secret_basic"
        assert client["tokens"] >= 1  # Basic auth at the token endpoint worked


def test_the_load_test_passes_against_the_reference_server(reference_run, short_tokens) -> None:
    code, output, out = reference_run
    ran = short_tokens.ran_clients
    assert sum(c["tokens"] >= 2 for c in ran) >= INSTANCES  # refreshed, 4-s tokens
    assert code == 0, output
    assert "prediction check passed" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["endpoints"]["register"]["by_outcome"] == {"201": INSTANCES}
    assert set(summary["endpoints"]["token"]["by_outcome"]) == {"200"}
    assert summary["endpoints"]["api"]["requests"] == 0


def test_the_load_test_passes_with_the_api_on_an_independent_resource_server(
    short_tokens, reference_keys, tmp_path
) -> None:
    before = {c["client_id"] for c in short_tokens.clients()}
    api = short_tokens.url + "/rs/v1/{route}"
    code, output, out = _loadtest(
        short_tokens, reference_keys, tmp_path / "run", "--set", f"loadtest.api={api}",
        "--duration", "8s",
    )  # fmt: skip
    assert code == 0, output
    assert "prediction check passed" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["endpoints"]["register"]["by_outcome"] == {"201": INSTANCES}
    assert set(summary["endpoints"]["token"]["by_outcome"]) == {"200"}
    assert set(summary["endpoints"]["api"]["by_outcome"]) == {"200"}  # every token verified
    assert summary["endpoints"]["api"]["requests"] >= 2 * INSTANCES
    clients = [c for c in short_tokens.clients() if c["client_id"] not in before]
    assert len(clients) == INSTANCES + 1  # the instances and the preflight's client
    assert sum(c["tokens"] >= 2 for c in clients) >= INSTANCES
