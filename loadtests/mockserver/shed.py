"""Load shedding: answer "come back later" at once rather than queue without bound.

An overloaded server that queues every request serves each one late, after its client has
given up, and spends its capacity on answers nobody reads (measured before this module: at
ten times capacity, 90 % of token requests timed out at the client and the mock went on
issuing tokens for them). Three rules, applied by `loadtests.mockserver.gate` to the DCR
and API routes, before any other check:

1. **gone**: a request whose client has closed the connection is not served (counted
   under status 499, nginx's "client closed request"; nothing is sent);
2. **queue deadline**: a request that waited longer than ``queue_deadline`` seconds
   between its arrival (the protocol stamps it when its head is read) and the start of its
   handling is shed;
3. **concurrency**: at most ``max_concurrent`` requests of one route are at work at once
   (they can be, when faults add latency); one more waits for a slot for at most
   ``queue_deadline`` seconds, then is shed.

A shed request gets ``shed_status`` (503 ``temporarily_unavailable`` by default, or 429
``too_many_requests``) with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

ARRIVED_KEY = "dcrload.arrived"
"""Scope key: the loop time at which the request's head was read (set by the protocol)."""
GONE_KEY = "dcrload.client_gone"
"""Scope key: a callable that says whether the client has closed the connection."""
CLIENT_GONE = 499


class Limiter:
    """At most `limit` holders at once; a newcomer waits its turn for at most `deadline` s."""

    def __init__(self, limit: int, deadline: float) -> None:
        self.limit = limit
        self.deadline = deadline
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        """Take a free slot now if there is one (no coroutine: the common case is cheap)."""
        if self.active < self.limit and not self._waiters:
            self.active += 1
            return True
        return False

    async def acquire(self) -> bool:
        """Take a slot (True), or give up after `deadline` seconds (False)."""
        if self.try_acquire():
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.deadline):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot came just as the deadline passed: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            return False
        return True  # `release` handed its slot over: `active` is unchanged

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.active -= 1
