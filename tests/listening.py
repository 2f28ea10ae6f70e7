"""Start a server subprocess on port 0 and wait for the line that says where it listens.

The mock and the reference server both print "... listening on URL" once bound; this reads
their output on a thread (so a chatty server never blocks on a full pipe), waits for that
line, checks `/healthz`, and stops the process with `stop` if it exits or takes too long.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import httpx


def start_listening(
    command: Sequence[str],
    marker: str,
    *,
    env: dict[str, str],
    stop: Callable[[subprocess.Popen[str]], object],
    cwd: Path | None = None,
    timeout: float = 20.0,
) -> tuple[str, subprocess.Popen[str], list[str]]:
    """Run `command`; return its URL (the last word of the first line starting with
    `marker`), the process, and the list its output lines keep arriving in."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    found: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        with process.stdout:  # closed at the end of output: no pipe left for the collector
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith(marker) and not found:
                    found.append(line.split()[-1])

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not found:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            shown = " ".join(Path(part).name for part in command[1:3])
            raise RuntimeError(f"{shown} did not start:\n" + "\n".join(lines))
        time.sleep(0.02)
    httpx.get(found[0] + "/healthz", timeout=5).raise_for_status()
    return found[0], process, lines
