"""The hot routes (register, token, API) dispatched without Starlette's stack.

Starlette's application wraps every request in two middlewares, a router that tries each
route in turn and an exception wrapper per route, and builds a `Request` whose every header
lookup scans the raw list; measured on 2026-12-01 that costs about 80 µs of the 140 µs a
bare Starlette JSON route takes here, more than the ES256 signature of a token. So the
gate (`loadtests.mockserver.gate`) asks `HotRoutes.find` for a register, token or API
request's endpoint: exact paths by dict lookup, paths with parameters by the regex
Starlette would compile for them, the method checked as Starlette checks it (a GET route
takes HEAD too). The endpoint is a plain function from a `Call` to an `Answer`.

Whatever does not match fully (a wrong method, an unknown API path) goes on to the
Starlette app, where the same routes (`HotRoutes.starlette_routes`) answer 405 or 404 as
before. An endpoint that raises still gets a 500 from the server, not a hang.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, compile_path

from loadtests.mockserver.calls import BODY_KEY, Call, first_values
from loadtests.mockserver.responses import Answer

Endpoint = Callable[[Call], Answer]


def _methods(methods: list[str]) -> frozenset[str]:
    return frozenset([*methods, "HEAD"] if "GET" in methods else methods)


class HotRoutes:
    """(path, methods, endpoint) triples; a path may hold ``{name}`` parameters."""

    def __init__(self, routes: list[tuple[str, list[str], Endpoint]]) -> None:
        self.routes = routes
        self.exact: dict[str, tuple[frozenset[str], Endpoint]] = {}
        self.templated: list[tuple[re.Pattern[str], frozenset[str], Endpoint]] = []
        for path, methods, endpoint in routes:
            if "{" in path:
                regex, _format, _convertors = compile_path(path)
                self.templated.append((regex, _methods(methods), endpoint))
            else:
                self.exact[path] = (_methods(methods), endpoint)

    def find(self, path: str, method: str) -> tuple[Endpoint, dict[str, str]] | None:
        """The endpoint serving `method` on `path` and the path's parameters, or None."""
        exact = self.exact.get(path)
        if exact is not None:
            return (exact[1], {}) if method in exact[0] else None
        for regex, methods, endpoint in self.templated:
            match = regex.match(path)
            if match is not None:
                return (endpoint, match.groupdict()) if method in methods else None
        return None

    def starlette_routes(self) -> list[Route]:
        """The same routes for Starlette's router: its 405s, and a gate without `find`."""
        return [
            Route(path, _as_starlette(endpoint), methods=methods)
            for path, methods, endpoint in self.routes
        ]


def _as_starlette(endpoint: Endpoint) -> Callable[[Request], object]:
    async def serve(request: Request) -> Response:
        body = request.scope.get(BODY_KEY)
        call = Call(
            request.method,
            dict(request.path_params),
            first_values(request.scope["headers"]),
            await request.body() if body is None else body,
            request.scope.get("query_string", b""),
        )
        return endpoint(call).response()

    return serve
