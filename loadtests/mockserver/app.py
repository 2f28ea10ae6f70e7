"""`create_app`: the Starlette application of the mock DCR service."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loadtests.mockserver.admin import AdminRoutes
from loadtests.mockserver.api import ApiRoutes
from loadtests.mockserver.dcr import DcrRoutes
from loadtests.mockserver.discovery import (
    JWKS_PATH,
    METADATA_PATH,
    authorization_server_metadata,
)
from loadtests.mockserver.gate import Gate
from loadtests.mockserver.hot import HotRoutes
from loadtests.mockserver.openapi import build_openapi
from loadtests.mockserver.responses import json_response
from loadtests.mockserver.settings import MockSettings
from loadtests.mockserver.state import MockState
from loadtests.mockserver.store import Store
from loadtests.statements import SigningKey


def create_app(
    settings: MockSettings | None = None,
    trusted_keys: dict[str, SigningKey] | None = None,
    store: Store | None = None,
    admin_key: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Gate:
    """The mock as an ASGI app; its `MockState` is at ``app.state``."""
    settings = settings or MockSettings()
    state = MockState(settings, trusted_keys or {}, store, admin_key, clock)
    dcr, api = DcrRoutes(state), ApiRoutes(state)
    openapi = build_openapi(settings)
    paths = state.paths
    prefix = f"{paths.api_prefix}/{{sp}}"

    health: dict[str, object] = {"status": "ok", "profile": settings.profile}
    if state.store.shared:
        health["worker"] = os.getpid()  # which of `dcrload mock --workers N` answered

    async def healthz(request: Request) -> Response:
        return json_response(200, health)

    async def openapi_json(request: Request) -> Response:
        return json_response(200, openapi)

    jwks = {"keys": [state.issuer.jwk]}

    async def jwks_json(request: Request) -> Response:
        return json_response(200, jwks, {"Cache-Control": "max-age=300"})

    async def metadata(request: Request) -> Response:
        return json_response(200, authorization_server_metadata(settings, str(request.base_url)))

    hot = HotRoutes(
        [
            (paths.register, ["POST"], dcr.register),
            (paths.token, ["POST"], dcr.token),
            (f"{prefix}/configuration", ["GET"], api.configuration),
            (f"{prefix}/profiles", ["GET"], api.profiles),
            (f"{prefix}/authenticate/{{mvpd}}", ["POST"], api.authenticate),
            (f"{prefix}/decisions/authorize/{{mvpd}}", ["GET", "POST"], api.authorize),
        ]
    )
    routes = [
        *hot.starlette_routes(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route(JWKS_PATH, jwks_json, methods=["GET"]),
        *AdminRoutes(state).routes(),
    ]
    if settings.profile == "rfc7591":
        routes.append(Route(METADATA_PATH, metadata, methods=["GET"]))
    gate = Gate(Starlette(routes=routes), state, hot)
    return gate
