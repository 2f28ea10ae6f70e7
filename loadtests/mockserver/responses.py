"""The two error shapes the mock answers with, and JSON answers cheap enough for hot routes.

- OAuth endpoints (register, token): ``{"error": CODE, "error_description": TEXT}``
  (RFC 6749 section 5.2, RFC 7591 section 3.2.2).
- The REST API: an "enhanced error" ``{"error": {"status", "code", "message", "action"}}``,
  after the shape of Adobe Pass REST API V2's enhanced error codes.

The hot routes (`loadtests.mockserver.hot`) answer with an `Answer`: status, body bytes and
the raw header list, which the gate sends as two ASGI messages. The cold routes (admin,
health, discovery) answer with Starlette ``Response`` objects (`json_response`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

Headers = tuple[tuple[bytes, bytes], ...]

NO_STORE_RAW: Headers = ((b"cache-control", b"no-store"), (b"pragma", b"no-cache"))
"""RFC 6749 section 5.1: a token (or error) answer must not be cached."""
JSON = (b"content-type", b"application/json")


@dataclass(frozen=True, slots=True)
class Answer:
    """A hot route's answer; `headers` holds the ones after content type and length."""

    status: int
    body: bytes
    headers: Headers = ()

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [JSON, (b"content-length", str(len(self.body)).encode()), *self.headers]

    def response(self) -> Response:
        """The same answer as a Starlette response (for the router's own dispatch)."""
        response = Response(self.body, self.status, media_type="application/json")
        response.raw_headers.extend(self.headers)
        return response


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build one per call


def encode(body: Any) -> bytes:
    """Compact JSON, as every answer of the mock is written."""
    return _COMPACT.encode(body).encode()


def json_answer(status: int, body: Any, headers: Headers = ()) -> Answer:
    return Answer(status, encode(body), headers)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(encode(body), status, headers, media_type="application/json")


def oauth_error(status: int, code: str, description: str, headers: Headers = ()) -> Answer:
    body = {"error": code, "error_description": description}
    return json_answer(status, body, NO_STORE_RAW + headers)


def api_error(status: int, code: str, message: str, action: str = "none") -> Answer:
    body = {"error": {"status": status, "code": code, "message": message, "action": action}}
    return json_answer(status, body)
