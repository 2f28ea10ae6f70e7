"""The two error shapes the mock answers with, and fast JSON responses.

- OAuth endpoints (register, token): ``{"error": CODE, "error_description": TEXT}``
  (RFC 6749 section 5.2, RFC 7591 section 3.2.2).
- The REST API: an "enhanced error" ``{"error": {"status", "code", "message", "action"}}``,
  after the shape of Adobe Pass REST API V2's enhanced error codes.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, separators=(",", ":")).encode()
    return Response(data, status, headers, media_type="application/json")


def oauth_error(
    status: int, code: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": code, "error_description": description}
    return json_response(status, body, {**NO_STORE, **(headers or {})})


def api_error(status: int, code: str, message: str, action: str = "none") -> Response:
    body = {"error": {"status": status, "code": code, "message": message, "action": action}}
    return json_response(status, body)
