"""`--set path=value`: change one field of a scenario before it is validated.

Paths are dotted; list items are addressed by index (`cohorts.0.refresh=msal`). A value is
read as TOML when it parses as a TOML value (`10`, `true`, `{kind = "fixed_lead", lead =
"5m"}`, `[1, 2]`) and as a plain string otherwise (`6h`, `google-auth`). The result is
validated like the file itself, so an override can never smuggle in what a file could not.
"""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from dcrload.core.errors import UsageError
from dcrload.model.scenario import check_depth

MAX_VALUE_CHARS = 10_000
"""Longest `--set` value read (a table of a strategy is a few dozen characters)."""


def parse_value(text: str) -> Any:
    """A TOML value if `text` is one, else the string itself; UsageError if it is too
    long or nests deeper than a scenario may (`dcrload.model.scenario.MAX_DEPTH`)."""
    if len(text) > MAX_VALUE_CHARS:
        raise UsageError(f"--set value of {len(text):,} characters; at most {MAX_VALUE_CHARS:,}")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise UsageError(f"--set value {text[:40]!r}...: nested too deeply") from None
    check_depth(value, f"--set value {text[:40]!r}")
    return value


def split_override(text: str, source: str) -> tuple[list[str], Any]:
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise UsageError(f"--set {text!r}: expected path=value, e.g. fleet.instances=1000")
    return path.strip().split("."), parse_value(value.strip())


def set_path(data: dict[str, Any], keys: list[str], value: Any, text: str) -> None:
    """Set `value` at `keys` inside nested dicts/lists, creating tables as needed."""
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                where = ".".join(keys[:depth]) or "(top level)"
                raise UsageError(f"--set {text!r}: {where} has {len(node)} items, no item {key!r}")
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif isinstance(node, dict):
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            where = ".".join(keys[:depth])
            raise UsageError(f"--set {text!r}: {where} is a value, not a table")


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """A copy of `data` with every `path=value` applied (validation comes after)."""
    result = copy.deepcopy(data)
    for text in overrides:
        keys, value = split_override(text, source)
        if keys[0] == "cohorts" and "cohorts" not in result:
            result["cohorts"] = [{"name": "app", "share": 1.0}]
        set_path(result, keys, value, text)
    return result
