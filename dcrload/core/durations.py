"""Durations as people write them in scenarios: "15ms", "90s", "6h", "2d", "1h30m".

Everything inside dcrload is in seconds (float). A bare number is read as seconds; a
leading minus is allowed (a clock that runs behind has a negative offset).
"""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|min|s|m|h|d|w)")


def parse_duration(text: str | int | float) -> float:
    """Return seconds; raise ValueError with the accepted forms when `text` is not one."""
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"expected a duration such as '15ms', '90s', '6h' or '2d', got {text!r}")
    if isinstance(text, int | float):
        try:
            return _finite(float(text), text)
        except OverflowError:  # an int beyond any float
            raise ValueError(f"expected a finite duration, got {text!r}") from None
    raw = text.strip().lower()
    sign = -1.0 if raw.startswith("-") else 1.0
    body = raw.lstrip("+-").strip()
    try:
        bare: float | None = sign * float(body)
    except ValueError:
        bare = None
    if bare is not None:
        return _finite(bare, text)
    total, position = 0.0, 0
    for match in _PART.finditer(body):
        if match.start() != position and body[position : match.start()].strip():
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position == 0 or body[position:].strip():
        raise ValueError(f"expected a duration such as '15ms', '90s', '6h' or '2d', got {text!r}")
    return _finite(sign * total, text)


MAX_SECONDS = 1e12
"""Largest duration, either sign (about 31,700 years): anything beyond is a typo, and
sums and products of such durations would overflow."""


def _finite(seconds: float, text: object) -> float:
    """`seconds`, if it is a real number of seconds (no inf, no NaN, nothing that overflows)."""
    if not math.isfinite(seconds):
        raise ValueError(f"expected a finite duration, got {text!r}")
    if abs(seconds) > MAX_SECONDS:
        raise ValueError(f"expected a duration of at most {MAX_SECONDS:g} s, got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form, for tables and plot labels ("6h", "3m45s", "250ms")."""
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0s"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    parts = []
    remaining = seconds
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count = int(remaining // size)
        if count:
            parts.append(f"{count}{unit}")
            remaining -= count * size
    if remaining > 1e-9:
        parts.append(f"{remaining:g}s")
    return "".join(parts)
