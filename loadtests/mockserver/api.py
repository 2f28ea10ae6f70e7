"""The protected REST API under ``{api_prefix}/{serviceProvider}/``.

Routes (``{sp}`` is any service provider id unless a list is configured):

- ``GET configuration``: the service provider's MVPD list;
- ``GET profiles``: the profiles bound to the calling client (``{}`` for a new client);
- ``POST authenticate/{mvpd}``: the stand-in for the user's TV-provider login; creates a
  profile for `mvpd` bound to the calling client (201);
- ``POST|GET decisions/authorize/{mvpd}``: 200 with one decision per resource when the
  client has a profile for `mvpd`, else 403 ``authenticated_profile_missing``.

Errors use the enhanced shape ``{"error": {"status", "code", "message", "action"}}``:
401 ``invalid_access_token`` (missing, malformed, tampered, wrong issuer, unknown client),
401 ``expired_access_token``, 401 ``revoked_client`` (its statement is revoked: the client
refreshes, is refused with ``unauthorized_client`` and is blocked), 400 ``invalid_request``
(a bearer token in the query string is refused, never read), 400
``missing_device_identifier`` (adobe-pass: ``AP-Device-Identifier`` is required), 400
``invalid_parameter_service_provider``, 403 ``authenticated_profile_missing``.
"""

from __future__ import annotations

import re
from typing import Any

from loadtests.mockserver.bodies import BadInput, parse_json
from loadtests.mockserver.calls import Call
from loadtests.mockserver.responses import Answer, api_error, json_answer
from loadtests.mockserver.state import MockState
from loadtests.mockserver.tokens import TokenError

_MVPD = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class ApiRoutes:
    def __init__(self, state: MockState) -> None:
        self.state = state
        self.adobe = state.settings.profile == "adobe-pass"

    def _caller(self, call: Call) -> tuple[str, str] | Answer:
        """(client_id, service provider) of an acceptable call, or the error to answer."""
        state = self.state
        if b"access_token" in call.query_string and any(
            name == "access_token" for name, _ in call.query()
        ):
            return api_error(
                400, "invalid_request", "Send the access token in the Authorization header only."
            )
        sp = call.params["sp"]
        allowed = state.settings.service_providers
        if allowed and sp not in allowed:
            return api_error(
                400, "invalid_parameter_service_provider", "Unknown service provider.", "none"
            )
        if self.adobe and not call.headers.get(b"ap-device-identifier"):
            return api_error(
                400, "missing_device_identifier", "AP-Device-Identifier is required.", "none"
            )
        scheme, _, token = call.header(b"authorization").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return api_error(401, "invalid_access_token", "A bearer token is required.", "retry")
        try:
            grant = state.issuer.check(
                token.strip(), allow_expired="accept-expired" in state.quirks
            )
        except TokenError as refused:
            return api_error(401, refused.code, refused.message, "retry")
        client = state.store.client(grant.client_id)
        if client is None:
            return api_error(401, "invalid_access_token", "Unknown client.", "retry")
        if client.software_id in state.store.revoked:
            return api_error(401, "revoked_client", "The client's statement is revoked.", "none")
        return grant.client_id, sp

    def configuration(self, call: Call) -> Answer:
        caller = self._caller(call)
        if isinstance(caller, Answer):
            return caller
        mvpds = [{"id": m, "displayName": m.replace("_", " ")} for m in self.state.settings.mvpds]
        return json_answer(200, {"serviceProvider": caller[1], "mvpds": mvpds})

    def profiles(self, call: Call) -> Answer:
        caller = self._caller(call)
        if isinstance(caller, Answer):
            return caller
        bound = self.state.store.profiles_of(*caller)
        return json_answer(
            200, {"profiles": {m: self._profile(m, t) for m, t in sorted(bound.items())}}
        )

    def authenticate(self, call: Call) -> Answer:
        caller = self._caller(call)
        if isinstance(caller, Answer):
            return caller
        mvpd = call.params["mvpd"]
        if not _MVPD.match(mvpd):
            return api_error(400, "invalid_parameter_mvpd", "Unknown MVPD.", "none")
        now_ms = int(self.state.clock() * 1000)
        self.state.store.add_profile(caller[0], caller[1], mvpd, now_ms)
        return json_answer(201, {"profile": self._profile(mvpd, now_ms)})

    def authorize(self, call: Call) -> Answer:
        caller = self._caller(call)
        if isinstance(caller, Answer):
            return caller
        mvpd = call.params["mvpd"]
        resources = self._resources(call)
        if resources is None:
            return api_error(400, "invalid_request", "resources must be a list of strings.")
        if mvpd not in self.state.store.profiles_of(*caller):
            return api_error(
                403,
                "authenticated_profile_missing",
                "No authenticated profile for this MVPD.",
                "authentication",
            )
        decisions = [
            {
                "resourceId": resource,
                "serviceProvider": caller[1],
                "mvpd": mvpd,
                "source": "mvpd",
                "authorized": True,
            }
            for resource in resources
        ]
        return json_answer(200, {"decisions": decisions})

    @staticmethod
    def _resources(call: Call) -> list[str] | None:
        if call.method in ("GET", "HEAD") or not call.body:
            return [value for name, value in call.query() if name == "resources"] or ["default"]
        try:
            data: Any = parse_json(call.body)
        except BadInput:
            return None
        resources = data.get("resources", ["default"]) if isinstance(data, dict) else None
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            return None
        return resources or ["default"]

    def _profile(self, mvpd: str, created_ms: int) -> dict[str, Any]:
        day_ms = 30 * 24 * 3600 * 1000
        return {
            "mvpd": mvpd,
            "notBefore": created_ms,
            "notAfter": created_ms + day_ms,
            "issuer": mvpd,
            "type": "regular",
            "attributes": {"userID": f"user-of-{mvpd}"},
        }
