"""Untrusted input at the mock's edge: JSON bodies, JWT headers, time claims, URLs.

Everything a caller sends is read here with bounds, so that no input reaches a parser that
could raise something the routes do not expect (RecursionError, UnicodeEncodeError,
OverflowError, ValueError from a URL parser) and turn into a 500:

- a JSON body must be strict UTF-8, nest at most `MAX_DEPTH` arrays/objects, hold only
  finite numbers (no ``NaN``, ``Infinity``, ``1e999``), integers of at most `MAX_INT_DIGITS`
  digits, and strings that are valid Unicode (no lone surrogate such as ``"\\ud800"``);
- a JWT header (read before any signature is checked) obeys the same rules;
- a time claim (``iat``, ``exp``, ``nbf``) is a JSON number, not a boolean or a string,
  finite and within `MAX_NUMERIC_DATE` (year 5138), so comparing or converting it is safe;
- a URL that Python's parser refuses (``http://[::1``) is simply not a valid URL;
- a form body must be UTF-8; it is read as ``parse_qsl(text, keep_blank_values=True)``
  reads it, without the percent-decoding pass when nothing in it is encoded (the token
  route's form rarely is: client ids and secrets are URL-safe base64).

Each failure raises `BadInput` with a one-line description the route answers with (400).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

MAX_DEPTH = 16
"""Nesting of arrays and objects a body may have; the mock's own bodies need 3."""
MAX_INT_DIGITS = 19
"""Digits of an integer literal (fits in 64 bits): larger ones are never meaningful here."""
MAX_NUMERIC_DATE = 1e11
"""Seconds since the epoch beyond which a time claim is refused as malformed."""
MAX_URL_LENGTH = 2048

_BRACKETS = re.compile(r"[\[\]{}]")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class BadInput(ValueError):
    """Input that is refused before any route logic sees it; str() is the reason."""


def _depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{`` outside strings."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _reject_constant(name: str) -> Any:
    raise BadInput(f"The body holds {name}; numbers must be finite.")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise BadInput("The body holds a number out of range; numbers must be finite.")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise BadInput(f"The body holds an integer of more than {MAX_INT_DIGITS} digits.")
    return int(literal)


def parse_json(raw: bytes | str, what: str = "The body") -> Any:
    """The JSON value of `raw`, or `BadInput` naming what is wrong with it."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput(f"{what} is not valid UTF-8.") from None
    else:
        text = raw
    if (text.count("[") + text.count("{")) > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        raise BadInput(f"{what} nests deeper than {MAX_DEPTH} levels.")
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except BadInput as error:
        raise BadInput(str(error).replace("The body", what)) from None
    except (ValueError, RecursionError):
        raise BadInput(f"{what} is not valid JSON.") from None
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadInput(f"{what} holds a string that is not valid Unicode.") from None
    return value


def parse_json_object(raw: bytes, what: str = "The body") -> dict[str, Any]:
    value = parse_json(raw, what)
    if not isinstance(value, dict):
        raise BadInput(f"{what} must be a JSON object.")
    return value


def parse_form(raw: bytes) -> list[tuple[str, str]]:
    """The name-value pairs of an ``application/x-www-form-urlencoded`` body, in order."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("The form is not valid UTF-8.") from None
    if "%" in text or "+" in text:
        return parse_qsl(text, keep_blank_values=True)
    pairs = []
    for part in text.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((name, value))
    return pairs


def jwt_header(token: str) -> dict[str, Any]:
    """The (unverified) header of a compact JWT, read with the body rules above."""
    segment = token.split(".", 1)[0]
    if token.count(".") != 2 or not segment:
        raise BadInput("not a compact JWT")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise BadInput("the JWT header is not base64url") from None
    return parse_json_object(raw, "The JWT header")


def numeric_date(claims: dict[str, Any], name: str) -> float | None:
    """Claim `name` as seconds since the epoch (None when absent); `BadInput` if malformed."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"{name} must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise BadInput(f"{name} must be finite")
    if not -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE:
        raise BadInput(f"{name} is out of range")
    return float(value)


def split_url(uri: str) -> SplitResult | None:
    """`urlsplit(uri)`, or None for a URL the parser refuses or one too long to be real."""
    if len(uri) > MAX_URL_LENGTH:
        return None
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError:
        return None
    return parts
