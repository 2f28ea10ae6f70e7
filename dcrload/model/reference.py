"""docs/scenarios.md, the scenario reference, generated from the schema itself.

`python -m dcrload.model.reference --write` writes it; `tests/test_readme.py` checks the
file is this module's output, so a field cannot gain a default, lose its unit or appear
without the documentation following. Every field of the scenario is listed (nested
tables, list items and optional tables such as a revocation's `rollout` included), then
the tables a field can take: distributions (whose parameters are durations), refresh
strategies with their presets, retry policies with their `kind`, and the shipped scenarios.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dcrload.core.durations import format_duration
from dcrload.model.policies import PRESET_SOURCES, PRESETS, RefreshSpec, RetrySpec
from dcrload.model.scenario import Scenario

REFERENCE = Path("docs/scenarios.md")
SCENARIOS = Path("scenarios")
_DURATION_HINT = "duration"


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _members(annotation: Any) -> list[Any]:
    """The classes an annotation can hold (through Optional, Annotated and unions)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    return [annotation] if isinstance(annotation, type) else []


def _optional_model(annotation: Any) -> Any:
    """`Model | None` → Model (an optional table), else None."""
    members = [m for m in _members(annotation) if m is not type(None)]
    if len(members) == 1 and _is_model(members[0]) and type(None) in _members(annotation):
        return members[0]
    return None


def _is_duration(metadata: list[Any]) -> bool:
    return any(
        getattr(getattr(m, "func", None), "__name__", "") == "parse_duration" for m in metadata
    )


def _type_name(annotation: Any, metadata: list[Any]) -> str:
    validators = {getattr(getattr(m, "func", None), "__name__", "") for m in metadata}
    if validators & {"parse_refresh", "parse_retry"}:
        return "name or table"
    if _is_duration(metadata):
        return _DURATION_HINT
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        return _type_name(inner, [*metadata, *more])
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if all(_is_model(m) and "dist" in m.model_fields for m in members):
            return "distribution"
        if all(_is_model(m) and "kind" in m.model_fields for m in members):
            return "name or table"
        names = [_type_name(a, []) for a in members if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in members else "")
    if origin in (list, tuple):
        return "list"
    if origin is dict:
        return "table"
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "none")


def _default(field: Any) -> str:
    value = field.default
    if value is PydanticUndefined:
        if field.default_factory is not None:
            value = field.default_factory()
        else:
            return "required"
    if isinstance(value, BaseModel):
        if "dist" in type(value).model_fields or "kind" in type(value).model_fields:
            data = value.model_dump(by_alias=True)
            return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in data.items()) + "}"
        return "(table)"
    if isinstance(value, list):
        return "[]" if not value else "(list)"
    if isinstance(value, tuple) and len(value) > 6:
        return "(24 hourly weights)"
    return _show(value)


def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "none"
    return str(value)


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    rows = []
    nested = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}"
        annotation = field.annotation
        if _is_model(annotation):
            nested.append((annotation, f"{path}.", field, "table"))
            continue
        if typing.get_origin(annotation) is list and _is_model(typing.get_args(annotation)[0]):
            nested.append((typing.get_args(annotation)[0], f"{path}[].", field, "list of tables"))
            continue
        optional = _optional_model(annotation)
        if optional is not None:
            nested.append((optional, f"{path}.", field, "table (optional)"))
            continue
        kind = _type_name(annotation, list(field.metadata))
        default = _default(field)
        if kind == _DURATION_HINT and isinstance(field.default, float):
            default = f'"{format_duration(field.default)}"'
        rows.append((path, kind, default, _words(field.description)))
    for inner, path, field, kind in nested:
        described = _words(field.description) or _words(inner.__doc__)
        rows.append((path.rstrip("."), kind, "", described))
        rows.extend(_rows(inner, path))  # type: ignore[arg-type]
    return rows


def _words(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def scenario_reference() -> str:
    """Markdown: one table row per scenario field, with type/unit, default and meaning."""
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for path, kind, default, description in _rows(Scenario, ""):
        lines.append(f"| `{path}` | {kind} | {default} | {description} |")
    return "\n".join(lines)


def _spec_members(spec: Any) -> list[Any]:
    """The tables of a strategy or policy spec union (`dcrload.model.policies`)."""
    return [m for m in _members(spec) if m is not type(None)]


def _union_of(model: type[BaseModel], field: str) -> list[Any]:
    return [m for m in _members(model.model_fields[field].annotation) if m is not type(None)]


def _parameters(member: Any) -> tuple[str, list[str]]:
    """(kind or dist, ["name = default (type)", ...]) of one table a field can take; the
    table is a pydantic model or a dataclass."""
    if _is_model(member):
        tag_field = "dist" if "dist" in member.model_fields else "kind"
        tag = member.model_fields[tag_field].default
        params = []
        for name, field in member.model_fields.items():
            if name == tag_field:
                continue
            kind = _type_name(field.annotation, list(field.metadata))
            default = _default(field)
            if kind == _DURATION_HINT and isinstance(field.default, float):
                default = f'"{format_duration(field.default)}"'
            given = "required" if default == "required" else f"default {default}"
            params.append(f"`{field.alias or name}` ({kind}, {given})")
        return str(tag), params
    if dataclasses.is_dataclass(member):
        params = [
            f"`{f.name}` (default {_show(f.default)})"
            for f in dataclasses.fields(member)
            if f.name not in ("kind",) and f.default is not dataclasses.MISSING
        ]
        return str(getattr(member, "kind", getattr(member, "__name__", ""))), params
    return str(getattr(member, "__name__", "")), []


def _kind_table(members: list[Any], tag: str) -> str:
    lines = [f"| `{tag}` | parameters | meaning |", "|---|---|---|"]
    for member in members:
        name, params = _parameters(member)
        meaning = _words(member.__doc__).split(". ")[0]
        lines.append(f"| `{name}` | {', '.join(params) or 'none'} | {meaning} |")
    return "\n".join(lines)


def preset_table() -> str:
    """Markdown: every refresh preset, its parameters and the library it copies."""
    lines = ["| preset | strategy | source |", "|---|---|---|"]
    for name, table in PRESETS.items():
        params = ", ".join(f"{k} = {_show(v)}" for k, v in table.items() if k != "kind")
        strategy = f"`{table['kind']}`" + (f" ({params})" if params else "")
        lines.append(f"| `{name}` | {strategy} | {PRESET_SOURCES[name]} |")
    return "\n".join(lines)


def shipped_table(folder: Path = SCENARIOS) -> str:
    """Markdown: every shipped scenario and the question its first comment asks."""
    lines = ["| scenario | question |", "|---|---|"]
    for path in sorted(folder.glob("*.toml")):
        question = []
        for line in path.read_text().splitlines():
            if not line.startswith("#") or not line.strip("# "):
                break  # the question is the first paragraph of the opening comment
            question.append(line.lstrip("# ").strip())
        text = " ".join(question).removeprefix("Question:").strip()
        first = text[: text.index("?") + 1] if "?" in text else text
        lines.append(f"| `{path.name}` | {_words(first)} |")
    return "\n".join(lines)


def generated(folder: Path = SCENARIOS) -> str:
    """The whole of docs/scenarios.md."""
    from dcrload.model.scenario import ClockDrift

    distributions = _union_of(ClockDrift, "offset")
    return "\n".join(
        [
            "# Scenario reference",
            "",
            "<!-- generated by `python -m dcrload.model.reference --write`; do not edit -->",
            "",
            "A scenario is a TOML file (see `scenarios/`). Every field below has a default, so an"
            " empty file is a valid scenario; a field the schema does not know is refused with a"
            " did-you-mean. Any field can be changed from the command line with"
            " `--set path=value`, validated like the file: `--set fleet.instances=1000`,"
            " `--set token.ttl=1h`. List items are addressed by index or, for cohorts, by name:"
            " `--set cohorts.tv.refresh=msal` is `--set cohorts.1.refresh=msal` in"
            " `scenarios/default.toml`, whose second cohort is named `tv` (an unnamed cohort is"
            " `cohort-<index>`); `--vary` in `dcrload compare` takes the same paths. A value is"
            ' read as TOML when it parses as TOML (`10`, `true`, `{kind = "fixed_lead", lead ='
            ' "5m"}`), else as a string (`6h`, `msal`).',
            "",
            '**Durations** are written `"15ms"`, `"90s"`, `"6h"`, `"2d"`, `"1h30m"` or as bare'
            " seconds, wherever the type column says *duration* — including the parameters of"
            " distributions, refresh strategies and retry policies.",
            "",
            "## Fields",
            "",
            scenario_reference(),
            "",
            "## Distributions",
            "",
            "A *distribution* is a table chosen by `dist`, e.g. `session_length = {dist ="
            ' "lognormal", median = "25m", sigma = 0.8}`. Its parameters take durations (a'
            " clock offset of `-10m`, a service time of `15ms`), except `sigma`, which is a"
            " spread on the log scale.",
            "",
            _kind_table(distributions, "dist"),
            "",
            "## Refresh strategies",
            "",
            "A cohort's `refresh` is a preset name or a table chosen by `kind`:",
            "",
            _kind_table(_spec_members(RefreshSpec), "kind"),
            "",
            "The presets copy the refresh timing of widely used client libraries:",
            "",
            preset_table(),
            "",
            "## Retry policies",
            "",
            "A cohort's `retry` (what an app does after a 429, a 5xx or a timeout) is a policy"
            ' name or a table chosen by `kind`, e.g. `retry = {kind = "exponential", base ='
            ' "2s", cap = "5m", attempts = 6, budget = 0.1}`. Every policy also takes'
            " `honour_retry_after` (wait as long as a `Retry-After` header says) and `budget`"
            " (retries allowed as a share of the requests sent).",
            "",
            _kind_table(_spec_members(RetrySpec), "kind"),
            "",
            "## Shipped scenarios",
            "",
            "Each file opens with the question it answers and what to look at.",
            "",
            shipped_table(folder),
            "",
        ]
    )


def write_reference(path: Path = REFERENCE) -> bool:
    """Write docs/scenarios.md; return whether it changed."""
    text = generated()
    old = path.read_text() if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text != old


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        changed = write_reference()
        print(f"{REFERENCE} updated" if changed else f"{REFERENCE} already up to date")
    else:
        print(generated())
