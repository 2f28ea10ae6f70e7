"""The ASGI middleware in front of every route: limits, counting, throttle, faults.

One plain ASGI callable rather than a stack of Starlette middlewares, because it runs on
every request and the token route must stay cheap. In order:

1. count the answer by route and status (for ``/admin/stats``);
2. headers larger than ``max_header_bytes`` in total: 431;
3. a body larger than ``max_body_bytes`` (declared or streamed): 413; a body that has not
   fully arrived ``body_timeout`` seconds after the head: 408 and the connection closed.
   The body is read here, once, and handed to the route in ``scope["dcrload.body"]``;
4. on the DCR and API routes only, first load shedding (`loadtests.mockserver.shed`: a
   request whose client left is dropped, one that queued past ``queue_deadline`` gets 503
   or 429 with Retry-After), then the per-device throttle (429), then the faults — the
   order of `dcrload.core.semantics`, which the simulated server follows too — and last a
   slot of the route's concurrency limit (or, after ``queue_deadline``, shed);
5. the hot routes' endpoint (`loadtests.mockserver.hot`) is called with a `Call` and its
   `Answer` sent as two messages; everything else goes to the Starlette app.

The common case is kept free of timers and coroutines it does not need: a body that came
whole with its head (the protocol marks it) is read without arming the body deadline, and
the throttle and faults are looked at only when one is set.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dcrload.core import semantics
from dcrload.core.semantics import error_body
from loadtests.mockserver.calls import BODY_COMPLETE_KEY, BODY_KEY, Call, first_values
from loadtests.mockserver.hot import HotRoutes
from loadtests.mockserver.responses import Answer, Headers, json_answer
from loadtests.mockserver.shared import STATS_EVERY
from loadtests.mockserver.shed import ARRIVED_KEY, CLIENT_GONE, GONE_KEY, Limiter
from loadtests.mockserver.state import MockState
from loadtests.mockserver.throttle import device_key

GATED = frozenset({"register", "token", "api"})
NO_STORE: Headers = ((b"cache-control", b"no-store"),)
"""What the gate's own refusals carry beyond the JSON content headers."""
CLOSE: Headers = ((b"connection", b"close"),)
HEADERS_TOO_LARGE = "Headers too large."
BODY_LATE = "The request body did not arrive in time."
BODY_TOO_LARGE = "Request body too large."


def classify(state: MockState, path: str) -> str:
    """The route name requests are counted under."""
    paths = state.paths
    if path == paths.token:
        return "token"
    if path == paths.register:
        return "register"
    if path.startswith(paths.api_prefix + "/"):
        return "api"
    if path == "/admin" or path.startswith("/admin/"):
        return "admin"
    if path in ("/healthz", "/openapi.json"):
        return path.lstrip("/")
    if path.startswith("/.well-known/"):
        return "well-known"
    return "other"


def _replay(body: bytes) -> Receive:
    """A `receive` that hands the already-read body to the app behind the gate."""

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


class Gate:
    def __init__(self, app: ASGIApp, state: MockState, hot: HotRoutes | None = None) -> None:
        self.app = app
        self.hot = hot  # the register, token and API routes, served without Starlette's stack
        self.state = state
        settings = state.settings
        self._flushing = False
        self.limiters = {
            route: Limiter(settings.max_concurrent, settings.queue_deadline) for route in GATED
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = self.state
        route = classify(state, scope["path"])
        settings = state.settings
        raw_headers = scope["headers"]
        if sum([len(k) + len(v) for k, v in raw_headers]) > settings.max_header_bytes:
            too_large = error_body(route, 431, "invalid_request", HEADERS_TOO_LARGE)
            await self._send(send, route, 431, too_large)
            return
        shared = state.store.shared
        if shared:
            self._start_flushing()
        gated = route in GATED
        if gated:
            if shared:
                state.sync()
            gone = scope.get(GONE_KEY)
            if gone is not None and gone():
                state.stats.count(route, CLIENT_GONE)
                return
            arrived = scope.get(ARRIVED_KEY)
            if arrived is not None and asyncio.get_running_loop().time() - arrived > (
                settings.queue_deadline
            ):
                await self._shed(send, route)
                return
        headers = first_values(raw_headers)
        if scope.get(BODY_COMPLETE_KEY):  # it all came with the head: nothing to wait for
            body = await self._read_body(headers, receive, settings.max_body_bytes)
        else:
            try:
                async with asyncio.timeout(settings.body_timeout):
                    body = await self._read_body(headers, receive, settings.max_body_bytes)
            except TimeoutError:
                late = error_body(route, 408, "invalid_request", BODY_LATE)
                await self._send(send, route, 408, late, CLOSE)
                return
        if body is None:
            too_large = error_body(route, 413, "invalid_request", BODY_TOO_LARGE)
            await self._send(send, route, 413, too_large)
            return
        scope[BODY_KEY] = body
        if not gated:
            await self.app(scope, _replay(body), self._counted(send, route))
            return
        if (state.throttle_settings.enabled or not state.faults.quiet()) and await self._refused(
            scope, send, route, headers
        ):
            return
        limiter = self.limiters[route]
        if not limiter.try_acquire() and not await limiter.acquire():
            await self._shed(send, route)
            return
        try:
            gone = scope.get(GONE_KEY)
            if gone is not None and gone():  # it left while waiting for a slot
                state.stats.count(route, CLIENT_GONE)
                return
            found = None if self.hot is None else self.hot.find(scope["path"], scope["method"])
            if found is None:
                await self.app(scope, _replay(body), self._counted(send, route))
                return
            endpoint, params = found
            call = Call(scope["method"], params, headers, body, scope["query_string"])
            await self._answer(send, route, endpoint(call))
        finally:
            limiter.release()

    async def _refused(
        self, scope: Scope, send: Send, route: str, headers: dict[bytes, bytes]
    ) -> bool:
        """Throttle, then faults (`dcrload.core.semantics`' order): whether one answered."""
        state = self.state
        throttle = state.throttle_settings
        if throttle.enabled:
            peer = scope.get("client") or ("", 0)
            if not state.throttle.allow(device_key(headers, peer[0])):
                extra: Headers = ()
                if throttle.retry_after:
                    extra = ((b"retry-after", str(math.ceil(1.0 / throttle.rate)).encode()),)
                await self._send(send, route, 429, semantics.THROTTLED.body(route), extra)
                return True
        status = await state.faults.apply(state.clock, state.rng, route)
        if status == 401:
            await self._send(send, route, 401, semantics.TOKEN_REJECTED.body(route))
            return True
        if status is not None:
            unavailable = semantics.UNAVAILABLE
            body = error_body(route, status, unavailable.code, unavailable.message)
            await self._send(send, route, status, body)
            return True
        return False

    def _counted(self, send: Send, route: str) -> Send:
        """`send`, counting the answer's status for ``/admin/stats``."""
        stats = self.state.stats

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                stats.count(route, message["status"])
            await send(message)

        return counted

    async def _answer(self, send: Send, route: str, answer: Answer) -> None:
        """`answer` sent as its two messages, its status counted."""
        status, raw = answer.status, answer.raw_headers()
        self.state.stats.count(route, status)
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": answer.body})

    async def _send(
        self, send: Send, route: str, status: int, body: Any, headers: Headers = ()
    ) -> None:
        """The gate's own answer (JSON, not to be cached), counted."""
        await self._answer(send, route, json_answer(status, body, NO_STORE + headers))

    def _start_flushing(self) -> None:
        """Shared mode: write this worker's counters every STATS_EVERY seconds."""
        if self._flushing:
            return
        self._flushing = True
        loop = asyncio.get_running_loop()

        def flush() -> None:
            self.state.sync()  # a reset elsewhere clears these counters before they are written
            self.state.flush_stats()
            loop.call_later(STATS_EVERY, flush)

        loop.call_later(STATS_EVERY, flush)

    async def _shed(self, send: Send, route: str) -> None:
        """Answer an overloaded request at once, with Retry-After (see `shed`)."""
        settings = self.state.settings
        self.state.stats.shed += 1
        refusal = semantics.THROTTLED if settings.shed_status == 429 else semantics.UNAVAILABLE
        retry_after = ((b"retry-after", str(settings.shed_retry_after).encode()),)
        await self._send(send, route, refusal.status, refusal.body(route), retry_after)

    @staticmethod
    async def _read_body(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes | None:
        """The whole body, or None when it is over `limit` bytes."""
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    return None
            except ValueError:
                return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
