"""`--set path=value`: change one field of a scenario before it is validated.

Paths are dotted. List items are addressed by index or, for tables with a `name` (the
cohorts), by that name: `cohorts.tv.refresh=msal` is `cohorts.1.refresh=msal` in a file
whose second cohort is called "tv" (a cohort without a name is `cohort-<index>`). A value
is read as TOML when it parses as a TOML value (`10`, `true`, `{kind = "fixed_lead", lead =
"5m"}`, `[1, 2]`) and as a plain string otherwise (`6h`, `google-auth`). The result is
validated like the file itself, so an override can never smuggle in what a file could not;
a problem in a field an override set is reported against the override, not the file.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from typing import Any

from dcrload.core.errors import UsageError

MAX_VALUE_CHARS = 10_000
"""Longest `--set` value read (a table of a strategy is a few dozen characters)."""


def parse_value(text: str) -> Any:
    """A TOML value if `text` is one, else the string itself; UsageError if it is too
    long or nests deeper than a scenario may (`MAX_DEPTH`)."""
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


def split_override(text: str, source: str = "--set") -> tuple[list[str], Any]:
    path, sep, value = text.partition("=")
    if not sep or not path.strip():
        raise UsageError(f"--set {text}: expected path=value, e.g. fleet.instances=1000")
    keys = path.strip().split(".")
    if any(not key for key in keys):
        raise UsageError(f"--set {text}: {path.strip()!r} is not a dotted field path")
    return keys, parse_value(value.strip())


def _item_name(item: Any, index: int) -> str:
    return str(item.get("name") or f"cohort-{index}") if isinstance(item, dict) else str(index)


def _index(node: list[Any], key: str, keys: list[str], depth: int, text: str) -> int:
    """The list position `key` addresses: an index, or the name of a named table."""
    if key.isdigit() and int(key) < len(node):
        return int(key)
    names = [_item_name(item, i) for i, item in enumerate(node)]
    if not key.isdigit() and key in names:
        return names.index(key)
    where = ".".join(keys[:depth]) or "(top level)"
    listed = ", ".join(names) if names else "none"
    guess = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    hint = f"; did you mean `{where}.{guess[0]}`?" if guess else ""
    raise UsageError(
        f"--set {text}: {where} has {len(node)} items ({listed}), no item {key!r}{hint}"
    )


def set_path(data: dict[str, Any], keys: list[str], value: Any, text: str) -> list[str]:
    """Set `value` at `keys` inside nested dicts/lists, creating tables as needed; return
    the path with names resolved to indices (what the validator reports)."""
    node: Any = data
    resolved: list[str] = []
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            index = _index(node, key, keys, depth, text)
            resolved.append(str(index))
            if last:
                node[index] = value
            else:
                node = node[index]
        elif isinstance(node, dict):
            resolved.append(key)
            if last:
                node[key] = value
            else:
                node = node.setdefault(key, {})
        else:
            where = ".".join(keys[:depth])
            raise UsageError(f"--set {text}: {where} is a value, not a table")
    return resolved


def apply_traced(
    data: dict[str, Any], overrides: list[str]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A copy of `data` with every `path=value` applied, and (override, resolved dotted
    path) for each, so validation can blame the override that set a bad field."""
    result = copy.deepcopy(data)
    trace: list[tuple[str, str]] = []
    for text in overrides:
        keys, value = split_override(text)
        if keys[0] == "cohorts" and "cohorts" not in result:
            result["cohorts"] = [{"name": "app", "share": 1.0}]
        trace.append((text, ".".join(set_path(result, keys, value, text))))
    return result, trace


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """A copy of `data` with every `path=value` applied (validation comes after)."""
    return apply_traced(data, overrides)[0]


def override_blame(data: dict[str, Any], overrides: list[str]) -> list[tuple[str, str]]:
    """The (override, resolved path) pairs of `apply_traced`, for callers that apply
    overrides themselves and validate later."""
    return apply_traced(data, overrides)[1]


MAX_DEPTH = 32
"""Deepest nesting of tables and arrays a scenario or an override may have."""


def check_depth(value: Any, source: str, limit: int = MAX_DEPTH) -> None:
    """Raise UsageError if tables and arrays nest deeper than `limit` (no recursion used)."""
    from dcrload.core.errors import UsageError

    todo = [(value, 0)]
    while todo:
        node, depth = todo.pop()
        if isinstance(node, dict | list | tuple):
            if depth >= limit:
                raise UsageError(f"{source}: tables or arrays nested deeper than {limit} levels")
            children = node.values() if isinstance(node, dict) else node
            todo.extend((child, depth + 1) for child in children)
