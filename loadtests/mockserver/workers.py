"""``dcrload mock --workers N``: N server processes on one listening socket and one store.

The parent binds the socket, makes the store (schema and token-signing key, so every
worker signs with the same key), then forks the workers; each opens the store in shared
mode (`loadtests.mockserver.shared`) and serves the inherited socket, where the kernel
hands each new connection to one of them. The parent prints the listening line once a
worker answers ``/healthz``, forwards SIGINT/SIGTERM to the workers and exits when they
have stopped (status 0), or stops them all and exits 1 if one dies. Each worker asks the
kernel for SIGTERM when the parent dies (``PR_SET_PDEATHSIG``), so a killed parent leaves
no worker behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from loadtests.mockserver.serve import LISTENING, base_url, serve

PR_SET_PDEATHSIG = 1
START_TIMEOUT = 30.0  # seconds for a worker to answer /healthz


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_healthy(url: str, pids: list[int]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if any(os.waitpid(pid, os.WNOHANG)[0] for pid in pids):
            return False  # a worker died while starting
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def run_workers(n: int, sock: socket.socket, make_app: Callable[[], Any]) -> int:
    """Fork `n` workers serving `sock` with the app `make_app()` builds in each; wait."""
    pids: list[int] = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                _die_with_parent()
                serve(make_app(), sock, announce=False)
                code = 0
            finally:
                os._exit(code)
        pids.append(pid)
    url = base_url(sock)
    sock.close()
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = 0
        if not _wait_healthy(url, pids):
            status = 1
            stop(0, None)
            print("dcrload mock: error: a worker did not start", file=sys.stderr, flush=True)
        else:
            print(f"{LISTENING} {url}", flush=True)
        alive = set(pids)
        while alive:
            try:
                pid, code = os.wait()
            except ChildProcessError:
                break
            alive.discard(pid)
            if os.waitstatus_to_exitcode(code) != 0 or not stopping:
                status = 1
                if not stopping:
                    print(
                        f"dcrload mock: error: worker {pid} exited; stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    stop(0, None)
        print("dcrload mock stopped", file=sys.stderr, flush=True)
        return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
