"""`Call`: what a hot route reads of a request, without Starlette's `Request` around it.

A Starlette `Request` reads a header by scanning and decoding the raw header list on every
lookup; with it and Starlette's `Response`, an API call cost 57 µs in process, 25–31 µs
without them (measured on 2026-12-01; `loadtests.mockserver.hot`). The gate has the
headers and the whole body in hand already, so a hot route gets them as they are: header
names in lower case (as ASGI gives them) mapped to their first value, the body as bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

BODY_KEY = "dcrload.body"
"""Scope key: the whole request body, read once by the gate."""
BODY_COMPLETE_KEY = "dcrload.body_complete"
"""Scope key: set by the protocol once the request's last byte is parsed. A request that
arrived whole with its head (most do) needs no body deadline timer."""


def first_values(raw: list[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    """Header names to their first value, as Starlette's ``Headers.get`` reads them."""
    return dict(reversed(raw))


@dataclass(slots=True)
class Call:
    method: str
    params: dict[str, str]  # the route's path parameters
    headers: dict[bytes, bytes]  # see `first_values`
    body: bytes
    query_string: bytes = b""

    def header(self, name: bytes) -> str:
        """The first value of header `name` (lower case), or '' when it is absent."""
        value = self.headers.get(name)
        return "" if value is None else value.decode("latin-1")

    def query(self) -> list[tuple[str, str]]:
        """The query string's pairs, read as Starlette's ``QueryParams`` reads them."""
        return parse_qsl(self.query_string.decode("latin-1"), keep_blank_values=True)
