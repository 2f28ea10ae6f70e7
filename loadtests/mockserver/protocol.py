"""The HTTP/1.1 protocols the mock is served with: uvicorn's, plus the limits they lack.

Two parsers, one set of rules. The default is httptools (llhttp, in C), on asyncio's loop
(uvloop left requests unread where the shed deadline could not see them): about half the
CPU per request of h11 (measured on 2026-12-01: token route 433–457 →
273–378 µs, API route 272–287 → 126–132 µs), so the mock is not the bottleneck of a load
test. h11 (pure Python) stays as ``--http h11``. Both add to uvicorn:

- every request head (request line and headers) must be complete within
  `header_timeout` seconds of the connection opening or of its first byte; past it the
  mock answers 408 (if anything arrived) and closes. uvicorn arms its keep-alive timer
  only after a response and disarms it on the next byte, so a connection that sends
  nothing, or a head one byte every few seconds, would be held forever (a slowloris);
- a head over `max_head` bytes gets 431 with a JSON error, and the rest of what the
  client sends is read and dropped for at most `DRAIN_SECONDS` before the connection
  closes, so that the client reads the answer instead of a reset (h11 answers such a head
  with a 400 and an immediate close; httptools has no limit at all);
- reading goes on while a request waits for its turn, so a client that closes its
  connection is noticed and its request dropped (`_FlowControl`); it stops once enough
  pipelined requests are buffered, and for a request body's backpressure as before.

Malformed input is a 400 (uvicorn's): llhttp refuses what h11 refuses, and more (bytes
over 0x7F in the request target, for one). The body has its own deadline in
`loadtests.mockserver.gate` (408). Each request's scope also gets the loop time its head
was read at and a way to ask whether its client has gone, for load shedding
(`loadtests.mockserver.shed`), and, once its last byte is parsed, a mark that the body is
complete (`loadtests.mockserver.calls.BODY_COMPLETE_KEY`): the gate then reads it without
arming the body deadline.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
import httptools
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT, FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from loadtests.mockserver.calls import BODY_COMPLETE_KEY
from loadtests.mockserver.shed import ARRIVED_KEY, GONE_KEY

PROTOCOLS = ("httptools", "h11")
DRAIN_SECONDS = 5.0
PIPELINE_LIMIT = 64 * 1024  # h11: bytes of pipelined requests buffered before reading pauses
PIPELINE_DEPTH = 16  # httptools: pipelined requests parsed and waiting before reading pauses

_TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)
_TOO_LARGE_ANSWER = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s"
)


def _error(message: str) -> bytes:
    return json.dumps({"error": "invalid_request", "error_description": message}).encode()


# --------------------------------------------------------------------------- httptools


class _PipelineFlowControl(FlowControl):
    """uvicorn's flow control, but reading goes on while parsed requests wait.

    uvicorn's httptools protocol pauses reading as soon as a second (pipelined) request
    arrives while one is served, so a client that gives up and closes its connection goes
    unnoticed and its requests are served anyway. Here reading stops for real only once
    `PIPELINE_DEPTH` requests wait, or a request body is over uvicorn's high-water mark.
    """

    def __init__(self, transport: asyncio.Transport, protocol: MockHttpToolsProtocol) -> None:
        super().__init__(transport)
        self._protocol = protocol

    def pause_reading(self) -> None:
        protocol = self._protocol
        cycle = protocol.cycle
        if len(protocol.pipeline) + 1 < PIPELINE_DEPTH and (
            cycle is None or len(cycle.body) <= HIGH_WATER_LIMIT
        ):
            return
        super().pause_reading()


class _HeadDeadline:
    """The head deadline, the drain after a 431 and the complete-body mark, for either
    parser's protocol (a mixin before uvicorn's class, whose `loop` and `transport` it
    uses)."""

    header_timeout: float = 10.0
    max_head: int = 64 * 1024
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport

    def _start_timers(self) -> None:
        self._head_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._draining = False
        self._received_at = self.loop.time()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _drain_then_close(self) -> None:
        """After a 431: read and drop what the client still sends, for a while, then close."""
        self._disarm()
        self._draining = True
        self._drain_timer = self.loop.call_later(DRAIN_SECONDS, self.transport.close)

    @staticmethod
    def _mark_if_complete(cycle: Any) -> None:
        """Mark the request's scope once its last byte is parsed (`BODY_COMPLETE_KEY`: the
        gate reads such a body without arming its deadline); `cycle` is uvicorn's
        RequestResponseCycle of the current request, or None."""
        if cycle is not None and not cycle.more_body:
            cycle.scope[BODY_COMPLETE_KEY] = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
        super().connection_lost(exc)  # type: ignore[misc]  # uvicorn's, after this mixin

    def _head_timed_out(self) -> None:
        raise NotImplementedError


class MockHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):
    """One connection; `header_timeout` and `max_head` are set by `protocol_class`.

    The parser's callbacks say where a request stands: a head starts at its first byte
    (``on_message_begin``) and ends at ``on_headers_complete``; bytes that arrive
    between requests count as the start of a head.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._start_timers()
        self._in_message = False  # a request has begun and not yet ended
        self._in_head = False  # ... and its head is not complete
        self._head_bytes = 0  # bytes received since the last head was complete
        super().connection_made(transport)
        self.flow = _PipelineFlowControl(transport, self)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return
        self._received_at = self.loop.time()
        if not self._in_message or self._in_head:
            self._arm()  # a new head starts (or goes on): its deadline does not move
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._no_upgrade()
        except httptools.HttpParserError:
            if self._in_head and self._head_bytes > self.max_head:
                self._refuse_large_head()
            else:
                self.send_400_response("Invalid HTTP request received.")
            return
        if self._in_head and self._head_bytes > self.max_head:
            self._refuse_large_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_message = self._in_head = True
        self._arm()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._disarm()
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        scope[ARRIVED_KEY] = self._received_at
        scope[GONE_KEY] = self.transport.is_closing
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()
        self._mark_if_complete(self.cycle)

    def _no_upgrade(self) -> None:
        """An ``Upgrade`` request (no protocol switch is served): answer it as a plain
        request, then close, since what follows on the connection is not HTTP/1.1."""
        cycle = self.cycle
        if cycle is None or cycle.response_complete:
            self.transport.close()
            return
        cycle.keep_alive = False
        if cycle.more_body:  # the parser stopped before the body: the request ends here
            cycle.more_body = False
            cycle.message_event.set()
        self._in_message = self._in_head = False

    def _refuse_large_head(self) -> None:
        body = _error("Request headers too large.")
        self.transport.write(_TOO_LARGE_ANSWER % (len(body), body))
        self._drain_then_close()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or (self._in_message and not self._in_head):
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is due first; the keep-alive timer bounds what follows
        if self._in_head or self._head_bytes:
            body = _error("The request head did not arrive in time.")
            self.transport.write(_TIMEOUT_ANSWER % (len(body), body))
        self.transport.close()


# --------------------------------------------------------------------------- h11


class _FlowControl(FlowControl):
    """h11: uvicorn's flow control, but reading goes on while a complete request waits.

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


class MockH11Protocol(_HeadDeadline, H11Protocol):
    """One connection; `header_timeout` and `max_head` are set by `protocol_class`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._start_timers()
        super().connection_made(transport)
        self.flow = _FlowControl(transport, self.conn)
        self._arm()

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
        self._mark_if_complete(self.cycle)

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
        self._drain_then_close()


def protocol_class(header_timeout: float, max_head: int, http: str = "httptools") -> Any:
    """A protocol class (`http`: one of `PROTOCOLS`) with these limits, for
    ``uvicorn.Config(http=...)``."""
    if http not in PROTOCOLS:
        raise ValueError(f"http {http!r} is not one of {', '.join(PROTOCOLS)}")
    base = MockHttpToolsProtocol if http == "httptools" else MockH11Protocol
    return type(
        base.__name__,
        (base,),
        {"header_timeout": header_timeout, "max_head": max_head},
    )
