"""The command line as a whole: bad paths and unknown commands are one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def dcrload(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcrload", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ("statement", "--out", "/proc/no/such/folder"),
        ("simulate", "--out", "/proc/no/such/folder", "--set", "fleet.instances=10"),
        ("no-such-command",),
    ],
)
def test_bad_paths_and_commands_are_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    result = dcrload(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("dcrload: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_help_lists_every_command() -> None:
    result = dcrload("--help")
    assert result.returncode == 0
    for command in ("simulate", "compare", "loadtest", "mock", "statement", "probe"):
        assert command in result.stdout
