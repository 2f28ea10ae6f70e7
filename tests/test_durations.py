"""Durations as scenarios write them: "15ms", "6h", "2d", "1h30m", "-10m"."""

from __future__ import annotations

import pytest

from dcrload.core.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15ms", 0.015),
        ("90s", 90.0),
        ("5m", 300.0),
        ("5min", 300.0),
        ("6h", 21600.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("3m45s", 225.0),
        ("1d2h3m4s", 93784.0),
        ("1.5h", 5400.0),
        (".5s", 0.5),
        ("-10m", -600.0),
        ("-1h30m", -5400.0),
        (" 6H ", 21600.0),
        ("42", 42.0),
        ("-2.5", -2.5),
        (42, 42.0),
        (0.25, 0.25),
    ],
)
def test_parse(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "h", "6x", "six hours", "1h-30m", "1h30", True])
def test_parse_refuses_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration such as"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (0.25, "250ms"), (225.0, "3m45s"), (21600.0, "6h"), (90000.0, "1d1h"),
     (-600.0, "-10m")],
)  # fmt: skip
def test_format_is_short_and_parses_back(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
