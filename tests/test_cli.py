"""The command line as a whole: bad paths and unknown commands are one line and exit 2.

`python -m dcrload` itself starts for `--help` and for a run that is terminated; the
refusals run in this process (`dcrload_here`), as `main()` gives them its exit status.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_runner import ROOT, dcrload, dcrload_here


@pytest.mark.parametrize(
    "args",
    [
        ("statement", "--out", "/proc/no/such/folder"),
        ("simulate", "--out", "/proc/no/such/folder", "--set", "fleet.instances=10"),
        ("no-such-command",),
    ],
)
def test_bad_paths_and_commands_are_one_line_and_exit_2(args: tuple[str, ...]) -> None:
    result = dcrload_here(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("dcrload: error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_help_lists_every_command() -> None:
    result = dcrload("--help")
    assert result.returncode == 0
    for command in ("simulate", "compare", "loadtest", "mock", "statement", "probe"):
        assert command in result.stdout


def test_a_terminated_run_leaves_no_result_files(tmp_path: Path) -> None:
    import signal
    import time

    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "dcrload", "simulate", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(tmp_path.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)  # the staging folder appears once the run has started
        assert process.poll() is None, "the run ended before it could be interrupted"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert stderr.strip() == "dcrload: interrupted"
    assert list(tmp_path.iterdir()) == []
