"""The hot routes (register, token, API) dispatched without Starlette's router stack.

Starlette's application wraps every request in two middlewares, a router that tries each
route in turn and an exception wrapper per route; measured on 2026-12-01 that costs about
80 µs of the 140 µs a bare Starlette JSON route takes here, more than the ES256 signature
of a token. The gate (`loadtests.mockserver.gate`) hands a register, token or API request
to `HotRoutes` first: the same `Route` objects match it (path, path parameters, method),
and its endpoint runs with the same `Request`. Whatever does not match fully (a wrong
method, an unknown API path) goes on to the Starlette app, which answers it as before
(405, 404). An endpoint that raises still gets a 500 from the server, not a hang.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send


class HotRoutes:
    """Exact paths by dict lookup, the rest (paths with parameters) by `Route.matches`."""

    def __init__(self, routes: list[Route]) -> None:
        self.exact = {r.path: r for r in routes if "{" not in r.path}
        self.templated = [r for r in routes if "{" in r.path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the request if one of the routes matches it fully; say whether it did."""
        route = self.exact.get(scope["path"])
        candidates = [route] if route is not None else self.templated
        for candidate in candidates:
            match, child = candidate.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                response = await candidate.endpoint(Request(scope, receive))
                await response(scope, receive, send)
                return True
        return False
