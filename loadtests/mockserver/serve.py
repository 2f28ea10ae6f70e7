"""Serve the mock with uvicorn on a socket we bind ourselves, so port 0 works.

`serve` prints ``dcrload mock listening on http://HOST:PORT`` (flushed) only once uvicorn
is accepting connections; a parent process can wait for that line, or poll ``/healthz``.
SIGINT (Ctrl-C) and SIGTERM both shut it down gracefully and the process exits with status
0 (uvicorn's own handlers would re-raise the signal after shutting down); a second signal
forces the exit.

The parser is httptools (`loadtests.mockserver.protocol`) unless the app's settings say
``http="h11"``. The loop is asyncio's own, not uvloop: under a burst of new connections
uvloop left the first request of many of them unread for one to three seconds, so they
waited where the queue deadline cannot see them — measured on 2026-12-01 with
``bench/bench_overload.py --smoke``: none shed and admitted p99 2.7 s on uvloop, 64 % shed
and p99 0.34 s on asyncio — and it saved no measurable CPU per request here.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from typing import Any

import uvicorn

from loadtests.mockserver.protocol import protocol_class

MAX_HEADER_EVENT = 64 * 1024
"""h11's limit on a request head. Larger than the app's own header limit, so an oversized
header gets the app's clean 431 (past this, `loadtests.mockserver.protocol` answers 431)."""

LISTENING = "dcrload mock listening on"


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port).

    The protocol must be given as IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted
    connections only when the socket says so, and without it every keep-alive response
    written in two parts waits ~40 ms for the client's delayed ACK.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def base_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server with our signal handling (see the module docstring)."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _stop(self) -> None:
        if self.should_exit:
            self.force_exit = True
        self.should_exit = True


async def _announce(server: uvicorn.Server, url: str, announce: bool) -> None:
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    if announce:
        print(f"{LISTENING} {url}", flush=True)


def _http(app: Any) -> tuple[str, float]:
    """(parser, header timeout) from the app's settings; a bare app gets the defaults."""
    settings = getattr(getattr(app, "state", None), "settings", None)
    return getattr(settings, "http", "httptools"), getattr(settings, "header_timeout", 10.0)


async def _serve(app: Any, sock: socket.socket, announce: bool = True) -> None:
    http, header_timeout = _http(app)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=protocol_class(header_timeout, MAX_HEADER_EVENT, http),
        ws="none",  # no route is a WebSocket: an Upgrade request is a plain request
        loop="none",  # asyncio.run's
        h11_max_incomplete_event_size=MAX_HEADER_EVENT,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    announcer = asyncio.ensure_future(_announce(server, base_url(sock), announce))
    try:
        await server.serve(sockets=[sock])
    finally:
        announcer.cancel()


def serve(app: Any, sock: socket.socket, announce: bool = True) -> None:
    """Run until SIGINT or SIGTERM (`announce`: print the listening line; a worker does not)."""
    try:
        asyncio.run(_serve(app, sock, announce))
    finally:
        sock.close()
        if announce:
            print("dcrload mock stopped", file=sys.stderr, flush=True)
