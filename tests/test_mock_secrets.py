"""Secrets at rest: the mock's files are private, and its admin key is never shown.

Real `dcrload mock` processes: file modes are read from disk, command lines from ``ps``
and ``/proc``, and what the mock prints is checked for the key.
"""
# ruff: noqa: F811  (pytest fixtures imported from mock_fixtures are parameters here)

from __future__ import annotations

import argparse
import os
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from cli_runner import dcrload
from mock_fixtures import ADMIN_KEY, keys_dir, start_server, stop_server  # noqa: F401

from dcrload.core.errors import UsageError
from loadtests.commands.loadtest import MockProcess
from loadtests.commands.mock import admin_key
from loadtests.mockserver.store import Store

SECRET = "s3cret-admin-key-that-must-not-leak"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _admin_ok(url: str, key: str) -> bool:
    answer = httpx.get(url + "/admin/state", headers={"X-Admin-Key": key}, timeout=5)
    return answer.status_code == 200


def _everyone_sees(pid: int) -> str:
    """The command line of `pid` as ``ps`` and ``/proc`` show it to any user."""
    ps = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ps.stdout + cmdline


def test_store_file_is_created_0600_and_an_old_one_made_so(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.sqlite3"
    Store(fresh).close()
    assert _mode(fresh) == 0o600
    old = tmp_path / "old.sqlite3"
    old.touch(mode=0o644)
    old.chmod(0o644)
    Store(old).close()
    assert _mode(old) == 0o600


def test_generated_key_goes_to_a_0600_file_and_every_file_is_private(tmp_path: Path) -> None:
    out = tmp_path / "run"
    server = start_server("--out", str(out), env={"DCRLOAD_ADMIN_KEY": ""})
    try:
        key_file = out / "admin-key"
        key = key_file.read_text().strip()
        assert any(str(key_file) in line for line in server.lines)
        assert _admin_ok(server.url, key)
        # a write, so SQLite has its WAL files
        assert httpx.post(server.url + "/admin/reset", headers={"X-Admin-Key": key}).is_success
        private = [key_file, out / "mock.sqlite3", out / "mock.sqlite3-wal"]
        private += list((out / "keys").glob("*.key.pem"))
        assert len(private) == 4
        assert {p.name: _mode(p) for p in private} == {p.name: 0o600 for p in private}
        assert _mode(out) == 0o700
        assert key not in "\n".join(server.lines)
    finally:
        stop_server(server.process)


def test_key_from_environment_is_used_and_never_shown(keys_dir: Path) -> None:
    server = start_server(
        "--keys", str(keys_dir), "--db", ":memory:", env={"DCRLOAD_ADMIN_KEY": SECRET}
    )
    try:
        assert _admin_ok(server.url, SECRET)
        assert not _admin_ok(server.url, ADMIN_KEY)
        assert SECRET not in _everyone_sees(server.process.pid)
        assert "admin key from $DCRLOAD_ADMIN_KEY" in "\n".join(server.lines)
    finally:
        stop_server(server.process)
    assert SECRET not in "\n".join(server.lines)


def test_key_from_a_file(keys_dir: Path, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(SECRET + "\n")
    server = start_server(
        "--keys", str(keys_dir), "--db", ":memory:", "--admin-key-file", str(key_file)
    )
    try:
        assert _admin_ok(server.url, SECRET)
        assert not _admin_ok(server.url, ADMIN_KEY)  # the file wins over the environment
    finally:
        stop_server(server.process)
    assert SECRET not in "\n".join(server.lines)


@pytest.mark.parametrize(
    ("content", "reason"), [(None, "cannot read"), ("", "printable"), ("two words", "printable")]
)
def test_a_bad_key_file_is_a_usage_error(tmp_path: Path, content: str | None, reason: str) -> None:
    key_file = tmp_path / "key"
    if content is not None:
        key_file.write_text(content)
    args = argparse.Namespace(admin_key_file=key_file, admin_key=None, out=tmp_path)
    with pytest.raises(UsageError, match=reason):
        admin_key(args)


def test_a_bad_key_file_exits_2_with_one_line(keys_dir: Path, tmp_path: Path) -> None:
    result = dcrload(
        "mock",
        "--port",
        "0",
        "--keys",
        str(keys_dir),
        "--db",
        ":memory:",
        "--admin-key-file",
        str(tmp_path / "missing"),
    )
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_load_test_passes_its_mock_the_key_by_environment(
    keys_dir: Path, tmp_path: Path
) -> None:
    """`MockProcess` (what `dcrload loadtest --target mock` starts) moves --admin-key out
    of the command line, and the mock's log holds no key."""
    log = tmp_path / "mock.log"
    mock = MockProcess(["--db", ":memory:", "--keys", str(keys_dir), f"--admin-key={SECRET}"], log)
    try:
        url = mock.wait_ready()
        assert mock.process is not None
        assert SECRET not in _everyone_sees(mock.process.pid)
        assert _admin_ok(url, SECRET)
    finally:
        mock.stop()
    assert log.read_text() and SECRET not in log.read_text()
    assert "DCRLOAD_ADMIN_KEY" not in os.environ or os.environ["DCRLOAD_ADMIN_KEY"] != SECRET
