"""`dcrload probe` over a socket against the real mock and against an RFC 7591 server that
dcrload did not write (Authlib): passes, and fails — explaining why — when they misbehave."""
# ruff: noqa: F811  (pytest fixtures imported from the fixture modules are parameters here)

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from mock_fixtures import ADMIN_KEY, LiveServer, keys_dir, start_server, stop_server  # noqa: F401
from reference_server.fixtures import (  # noqa: F401
    METADATA,
    Reference,
    reference_keys,
    reference_server,
    start_reference,
    stop_reference,
)

from dcrload.cli import main
from loadtests.commands.probe import EXIT_UNREACHABLE

pytestmark = pytest.mark.xdist_group("probe")  # module fixtures: once


@pytest.fixture(scope="module")
def short_ttl(keys_dir: Path) -> Iterator[LiveServer]:
    server = start_server(
        "--keys",
        str(keys_dir),
        "--db",
        ":memory:",
        "--ttl",
        "2",
        "--admin-key",
        ADMIN_KEY,
        "--no-throttle",
    )
    yield server
    stop_server(server.process)


def _quirks(server: LiveServer, *quirks: str) -> None:
    response = httpx.put(
        server.url + "/admin/quirks",
        json={"quirks": list(quirks)},
        headers={"X-Admin-Key": ADMIN_KEY},
    )
    response.raise_for_status()


def _probe(server: LiveServer, keys_dir: Path, *extra: str) -> int:
    return main(
        [
            "probe",
            "--target",
            server.url,
            "--software-statement",
            str(keys_dir / "dcrload-demo.jwt"),
            *extra,
        ]
    )


def test_probe_passes_against_the_mock(short_ttl, keys_dir, capsys) -> None:
    _quirks(short_ttl)
    assert _probe(short_ttl, keys_dir, "--wait-expiry", "5") == 0
    out = capsys.readouterr().out
    assert "expired token refused" in out and "FAIL" not in out
    assert "0 deviated" in out


@pytest.mark.parametrize(
    ("quirk", "check"),
    [
        ("register-200", "register status"),
        ("no-expires-in", "token fields"),
        ("exp-mismatch", "token exp - iat"),
        ("accept-expired", "expired token refused"),
    ],
)
def test_probe_fails_against_a_misbehaving_mock(short_ttl, keys_dir, capsys, quirk, check) -> None:
    _quirks(short_ttl, quirk)
    wait = ["--wait-expiry", "5"] if quirk == "accept-expired" else []
    try:
        assert _probe(short_ttl, keys_dir, *wait) == 1
    finally:
        _quirks(short_ttl)
    failed = [line for line in capsys.readouterr().out.splitlines() if "FAIL" in line]
    assert any(check in line for line in failed), failed


def test_probe_skips_expiry_when_the_ttl_is_too_long(short_ttl, keys_dir, capsys) -> None:
    _quirks(short_ttl, "accept-expired")
    try:
        assert _probe(short_ttl, keys_dir) == 0  # not waited: cannot see the deviation
    finally:
        _quirks(short_ttl)
    assert "SKIP" in capsys.readouterr().out


def test_probe_rfc7591(keys_dir, capsys) -> None:
    server = start_server(
        "--keys", str(keys_dir), "--db", ":memory:", "--profile", "rfc7591", "--no-throttle"
    )
    try:
        assert (
            _probe(server, keys_dir, "--profile", "rfc7591", "--token-auth", "client_secret_basic")
            == 0
        )
        assert (
            _probe(server, keys_dir, "--profile", "rfc7591", "--paths", "api_prefix=/api/v2") == 0
        )
        # a server that does not speak adobe-pass fails the adobe-pass probe
        assert _probe(server, keys_dir) == 1
    finally:
        stop_server(server.process)


def _dead_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("profile", ["adobe-pass", "rfc7591"])
def test_probe_unreachable_target_is_not_a_deviation(keys_dir, capsys, profile) -> None:
    target = f"http://127.0.0.1:{_dead_port()}"
    code = main(
        [
            "probe",
            "--target",
            target,
            "--software-statement",
            str(keys_dir / "dcrload-demo.jwt"),
            "--timeout",
            "2",
            "--profile",
            profile,
        ]
    )
    assert code == EXIT_UNREACHABLE == 3
    out = capsys.readouterr().out
    assert f"cannot connect to {target}: ConnectError" in out
    assert "passed" not in out and "┃ check" not in out  # no conformance table


def test_probe_explains_a_failed_check_with_the_server_error(short_ttl, keys_dir, capsys) -> None:
    _quirks(short_ttl, "register-200")
    try:
        assert _probe(short_ttl, keys_dir) == 1
    finally:
        _quirks(short_ttl)
    out = capsys.readouterr().out
    said = out.split("the server said:", 1)[1]
    assert "register status: HTTP 200 (" in said and "client_secret" in said
    assert 'client_secret": ' not in out  # a 2xx body is named by its fields, never shown


def test_probe_mock_refuses_a_broken_statement(short_ttl, keys_dir, capsys) -> None:
    _quirks(short_ttl)
    assert _probe(short_ttl, keys_dir) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "broken statement" in x)
    assert "400 invalid_software_statement" in line and "PASS" in line


def test_probe_api_url_template(short_ttl, keys_dir, capsys) -> None:
    _quirks(short_ttl)
    template = short_ttl.url + "/api/v2/{service_provider}/{route}"
    assert _probe(short_ttl, keys_dir, "--api", template) == 0
    assert "FAIL" not in capsys.readouterr().out
    assert _probe(short_ttl, keys_dir, "--api", short_ttl.url + "/nowhere/{route}") == 1
    out = capsys.readouterr().out
    assert "FAIL" in _result(out, "api call")
    assert "  api call: HTTP 404" in out.split("the server said:", 1)[1]


# --------------------------------------------------------------------------- reference server


def _probe_reference(server: Reference, keys, *extra: str) -> int:
    return main(
        [
            "probe",
            "--target",
            server.url,
            "--software-statement",
            str(keys.statement),
            "--profile",
            "rfc7591",
            *extra,
        ]
    )


def _registration(keys) -> list[str]:
    return [
        "--metadata",
        json.dumps(METADATA),
        "--initial-access-token-file",
        str(keys.initial_access_token),
    ]


def _result(out: str, check: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"│ {check} "))


def test_probe_passes_against_the_reference_server(reference_server, reference_keys, capsys):
    before = {c["client_id"] for c in reference_server.clients()}
    assert _probe_reference(reference_server, reference_keys, *_registration(reference_keys)) == 0
    out = capsys.readouterr().out
    assert "0 deviated" in out and "FAIL" not in out
    assert "PASS" in _result(out, "token signature (jwks_uri)")
    assert "typ at+jwt" in out
    for check in ("RFC 9068 claims", "token client_id", "token iss"):
        assert "PASS" in _result(out, check)
    assert "400 invalid_software_statement" in _result(out, "broken statement refused")
    (new,) = [c for c in reference_server.clients() if c["client_id"] not in before]
    # discovery chose the RFC 8414 default; the token endpoint was used twice with it
    assert new["metadata"]["token_endpoint_auth_method"] == "client_secret_basic"
    assert new["metadata"]["response_types"] == [] and new["tokens"] == 2
    assert new["metadata"]["contacts"] == METADATA["contacts"]


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_probe_token_auth_end_to_end(reference_server, reference_keys, capsys, method) -> None:
    before = {c["client_id"] for c in reference_server.clients()}
    extra = [*_registration(reference_keys), "--token-auth", method, "--scope", "tv.read"]
    assert _probe_reference(reference_server, reference_keys, *extra) == 0
    (new,) = [c for c in reference_server.clients() if c["client_id"] not in before]
    assert new["metadata"]["token_endpoint_auth_method"] == method and new["tokens"] == 2


def test_probe_names_the_status_and_error_of_a_refused_registration(
    reference_server, reference_keys, capsys
) -> None:
    token = ["--initial-access-token-file", str(reference_keys.initial_access_token)]
    assert _probe_reference(reference_server, reference_keys, *token) == 1  # no contacts
    out = capsys.readouterr().out
    assert "FAIL" in _result(out, "register status")
    said = out.split("the server said:", 1)[1]
    assert (
        "register status: HTTP 400 invalid_client_metadata: contacts is required by this server"
        in said
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--target", "ftp://x", "--software-statement", "{jwt}"],
        ["--target", "http://127.0.0.1:9", "--software-statement", "/nonexistent.jwt"],
        ["--target", "http://127.0.0.1:9", "--software-statement", "{bad}"],
        [
            "--target",
            "http://127.0.0.1:9",
            "--software-statement",
            "{jwt}",
            "--wait-expiry",
            "9999",
        ],
        ["--target", "http://127.0.0.1:9", "--software-statement", "{jwt}", "--paths", "x=/y"],
        ["--target", "http://127.0.0.1:9", "--software-statement", "{jwt}", "--profile", "nope"],
        ["--software-statement", "{jwt}"],
        ["--target", "http://127.0.0.1:9", "--software-statement", "{jwt}", "--metadata", "[1]"],
        ["--target", "http://127.0.0.1:9", "--software-statement", "{jwt}", "--metadata", "{{"],
        ["--target", "http://x:9", "--software-statement", "{jwt}", "--metadata", "@/nonexistent"],
        [
            "--target",
            "http://127.0.0.1:9",
            "--software-statement",
            "{jwt}",
            "--metadata",
            '{{"software_statement": "x"}}',
        ],
        [
            "--target",
            "http://127.0.0.1:9",
            "--software-statement",
            "{jwt}",
            "--initial-access-token-file",
            "/nonexistent",
        ],
        ["--target", "http://127.0.0.1:9", "--software-statement", "{jwt}", "--api", "nah"],
        ["--target", "http://x:9", "--software-statement", "{jwt}", "--scenario", "/no.toml"],
    ],
)
def test_probe_bad_input_exits_2(args, keys_dir, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jwt"
    bad.write_text("not a jwt")
    filled = [a.format(jwt=keys_dir / "dcrload-demo.jwt", bad=bad) for a in args]
    assert main(["probe", *filled]) == 2
    assert capsys.readouterr().err.startswith("dcrload: error: ")


def test_probe_takes_the_load_tests_scenario(reference_server, reference_keys, capsys) -> None:
    from pathlib import Path

    scenario = Path(__file__).parent / "scenarios" / "loadtest-reference.toml"
    before = {c["client_id"] for c in reference_server.clients()}
    token = ["--initial-access-token-file", str(reference_keys.initial_access_token)]
    code = main(
        [
            "probe",
            "--scenario",
            str(scenario),
            "--target",
            reference_server.url,
            "--software-statement",
            str(reference_keys.statement),
            *token,
        ]
    )
    assert code == 0, capsys.readouterr().out
    (new,) = [c for c in reference_server.clients() if c["client_id"] not in before]
    assert new["metadata"]["client_name"] == "dcrload load test"  # the scenario's metadata
    assert new["metadata"]["contacts"] == ["ops@dcrload.test"]
    # a flag wins over the scenario
    assert main(["probe", "--scenario", str(scenario), "--target", reference_server.url,
                 "--software-statement", str(reference_keys.statement), *token,
                 "--token-auth", "client_secret_post"]) == 0  # fmt: skip
    latest = [c for c in reference_server.clients() if c["client_id"] not in before]
    assert latest[-1]["metadata"]["token_endpoint_auth_method"] == "client_secret_post"


@pytest.fixture(scope="module")
def lax_reference() -> Iterator[Reference]:
    """A careless deployment: statements ignored (Authlib's default without a key), every
    client registered with client_secret_post whatever it asked for, tokens issued under
    another issuer than the metadata's."""
    server = start_reference(
        "--auth-method", "client_secret_post", "--token-issuer", "https://proxy.invalid"
    )
    yield server
    stop_reference(server)


def test_probe_finds_a_server_that_ignores_the_statement(lax_reference, reference_keys, capsys):
    extra = ["--token-auth", "client_secret_post"]
    assert _probe_reference(lax_reference, reference_keys, *extra) == 1
    out = capsys.readouterr().out
    line = _result(out, "broken statement refused")
    assert "statement not verified" in line and "FAIL" in line
    assert "FAIL" in _result(out, "token iss") and "https://proxy.invalid" in out
    assert "PASS" in _result(out, "token client_id") and "PASS" in _result(out, "RFC 9068 claims")
    assert "2 deviated" in out  # the only findings


def test_probe_reports_an_auth_method_the_server_replaced(lax_reference, reference_keys, capsys):
    extra = ["--token-auth", "client_secret_basic"]
    assert _probe_reference(lax_reference, reference_keys, *extra) == 1
    out = capsys.readouterr().out
    line = _result(out, "registered auth method")
    assert "client_secret_post" in line and "FAIL" in line
    assert "token status: HTTP 401 invalid_client" in out.split("the server said:", 1)[1]


class _Stalls(BaseHTTPRequestHandler):
    """Accepts the connection, reads the request, never answers in time."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(2.0)

    def log_message(self, *args) -> None:
        pass


class _RegistersThenDies(BaseHTTPRequestHandler):
    """Answers one registration, then stops listening: the token request is refused."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps({"client_id": "c-1", "client_secret": "s" * 32}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.server.socket.close()  # nothing listens any more

    def log_message(self, *args) -> None:
        pass


def _serve(handler: type) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def test_a_server_that_does_not_answer_is_a_deviation_not_unreachable(keys_dir, capsys):
    server, url = _serve(_Stalls)
    try:
        code = main(["probe", "--target", url, "--software-statement",
                     str(keys_dir / "dcrload-demo.jwt"), "--timeout", "0.3"])  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1
    assert "FAIL" in _result(capsys.readouterr().out, "Register answered")


def test_a_connection_lost_mid_run_is_reported_as_such(keys_dir, capsys):
    server, url = _serve(_RegistersThenDies)
    try:
        code = main(["probe", "--target", url, "--software-statement",
                     str(keys_dir / "dcrload-demo.jwt"), "--timeout", "2"])  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert code == EXIT_UNREACHABLE
    out = capsys.readouterr().out
    assert "the connection was lost after" in out and "cannot connect" in out


def test_probe_api_template_against_an_independent_resource_server(reference_keys, capsys):
    server = start_reference("--statement-key", str(reference_keys.public_key), "--ttl", "2")
    try:
        api = server.url + "/rs/v1/{route}"  # Authlib's RFC 9068 validator guards it
        code = _probe_reference(server, reference_keys, "--api", api, "--wait-expiry", "4")
    finally:
        stop_reference(server)
    out = capsys.readouterr().out
    assert code == 0, out
    for check in ("api call", "tampered token refused", "api call after refresh"):
        assert "PASS" in _result(out, check)
    assert "PASS" in _result(out, "expired token refused")


def _docs_by_hand_block() -> list[str]:
    """The three commands docs/rfc7591.md shows for running the reference server by hand."""
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "rfc7591.md").read_text()
    block = next(b for b in re.findall(r"```[a-z]*\n(.*?)\n```", docs, flags=re.S) if "8100" in b)
    return block.splitlines()


def test_the_commands_docs_rfc7591_shows(tmp_path, monkeypatch, capsys) -> None:
    """Run the docs' lines as shown, in a fresh folder (port 8100 swapped for a free one)."""
    import shlex

    from dcrload.commandline.processes import free_port

    port = str(free_port())
    statement, serve, probe = (line.replace("8100", port) for line in _docs_by_hand_block())
    monkeypatch.chdir(tmp_path)
    assert main(shlex.split(statement)[1:]) == 0
    words = shlex.split(serve)
    assert words[:2] == ["python", "tests/reference_server/server.py"]
    server = start_reference(*words[2:])  # its --port wins over the helper's --port 0
    try:
        assert server.url == shlex.split(probe)[shlex.split(probe).index("--target") + 1]
        assert main(shlex.split(probe)[1:]) == 0
    finally:
        stop_reference(server)
    out = capsys.readouterr().out
    assert "0 deviated" in out and "400 invalid_software_statement" in out
