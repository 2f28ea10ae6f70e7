"""`dcrload probe` against the real mock over a socket: passes, and fails when it misbehaves."""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from mock_fixtures import ADMIN_KEY, LiveServer, keys_dir, start_server, stop_server  # noqa: F401

from dcrload.cli import main


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


def test_probe_unreachable_target_fails(keys_dir, capsys) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(
        [
            "probe",
            "--target",
            f"http://127.0.0.1:{port}",
            "--software-statement",
            str(keys_dir / "dcrload-demo.jwt"),
            "--timeout",
            "2",
        ]
    )
    assert code == 1


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
    ],
)
def test_probe_bad_input_exits_2(args, keys_dir, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.jwt"
    bad.write_text("not a jwt")
    filled = [a.format(jwt=keys_dir / "dcrload-demo.jwt", bad=bad) for a in args]
    assert main(["probe", *filled]) == 2
    assert capsys.readouterr().err.startswith("dcrload: error: ")
