"""uvicorn's h11 protocol with the two limits it lacks: a head deadline and a clean 431.

uvicorn (0.54) arms its keep-alive timer only after a response, and disarms it on the
first byte of the next request, so a connection that sends nothing, or a request head one
byte every few seconds, is held forever (a slowloris). And a head larger than h11's
``max_incomplete_event_size`` gets a 400 and an immediate close while the client is still
sending, which the client sees as a connection reset rather than an answer. Here:

- every request head (request line and headers) must be complete within
  `header_timeout` seconds of the connection opening or of its first byte; past it the
  mock answers 408 (if anything arrived) and closes;
- a head over h11's limit gets 431 with a JSON error, and the rest of what the client sends
  is read and dropped for at most `DRAIN_SECONDS` before the connection closes, so that the
  client reads the answer instead of a reset.

- reading goes on while a request waits for its turn, so a client that closes its
  connection is noticed and its request dropped (`_FlowControl`).

The body has its own deadline in `loadtests.mockserver.gate` (408). Each request's scope
also gets the loop time its head was read at and a way to ask whether its client has gone,
for load shedding (`loadtests.mockserver.shed`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol

from loadtests.mockserver.shed import ARRIVED_KEY, GONE_KEY

DRAIN_SECONDS = 5.0
PIPELINE_LIMIT = 64 * 1024  # bytes of pipelined requests buffered before reading pauses

_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def _error(message: str) -> bytes:
    return json.dumps({"error": "invalid_request", "error_description": message}).encode()


class _FlowControl(FlowControl):
    """uvicorn's flow control, but reading goes on while a complete request waits.

    uvicorn pauses reading as soon as a request has arrived (h11 says PAUSED until the
    response is sent), so a client that gives up and closes its connection while its
    request waits in the event loop's queue goes unnoticed and is served anyway. Reading
    on lets the loop see the close (and the gate drop the request); it stops for real once
    `PIPELINE_LIMIT` bytes of further (pipelined) data are buffered, and for a request
    body's backpressure as before.
    """

    def __init__(self, transport: asyncio.Transport, conn: h11.Connection) -> None:
        super().__init__(transport)
        self._conn = conn

    def pause_reading(self) -> None:
        if self._conn.their_state in (h11.DONE, h11.MUST_CLOSE) and (
            len(self._conn.trailing_data[0]) < PIPELINE_LIMIT
        ):
            return
        super().pause_reading()


class MockH11Protocol(H11Protocol):
    """One connection; `header_timeout` and `max_head` are set by `protocol_class`."""

    header_timeout: float = 10.0
    max_head: int = 64 * 1024

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._received_at = self.loop.time()
        super().connection_made(transport)
        self.flow = _FlowControl(transport, self.conn)
        self._arm()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return
        self._received_at = self.loop.time()
        if self.conn.their_state is h11.IDLE:
            self._arm()  # a new head starts (or goes on): its deadline does not move
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not None and self.cycle is not cycle:
            # a new request: its task is created but has not run yet
            self.cycle.scope[ARRIVED_KEY] = self._received_at  # type: ignore[literal-required]
            self.cycle.scope[GONE_KEY] = self.transport.is_closing  # type: ignore[literal-required]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        super().connection_lost(exc)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.conn.trailing_data[0]:
            body = _error("The request head did not arrive in time.")
            self.transport.write(_TIMEOUT_ANSWER % (len(body), body))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if len(self.conn.trailing_data[0]) <= self.max_head:
            super().send_400_response(msg)
            return
        # h11 refused a head over its limit: answer 431, then drop the rest of the request.
        body = _error("Request headers too large.")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=431, headers=headers),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self._disarm()
        self._draining = True
        self._drain_timer = self.loop.call_later(DRAIN_SECONDS, self.transport.close)


def protocol_class(header_timeout: float, max_head: int) -> Any:
    """A `MockH11Protocol` subclass with these limits, for ``uvicorn.Config(http=...)``."""
    return type(
        "MockH11Protocol",
        (MockH11Protocol,),
        {"header_timeout": header_timeout, "max_head": max_head},
    )
