"""The scenario reference and the preset table, generated from the model itself.

The README's "Scenario reference" and "Refresh strategy presets" sections are this module's
output (`python -m dcrload.model.reference`), and a test keeps them in step with the code, so a
field cannot gain a default or lose its unit without the documentation following.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from dcrload.core.durations import format_duration
from dcrload.model.policies import PRESET_SOURCES, PRESETS
from dcrload.model.scenario import Scenario

START = "<!-- scenario-reference:start -->"
END = "<!-- scenario-reference:end -->"

_DURATION_HINT = "duration"


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _type_name(annotation: Any, metadata: list[Any]) -> str:
    if any(getattr(getattr(m, "func", None), "__name__", "") == "parse_duration"
           for m in metadata):  # fmt: skip
        return _DURATION_HINT
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f'"{a}"' for a in typing.get_args(annotation))
    if origin in (typing.Union, types.UnionType):
        members = typing.get_args(annotation)
        if all(_is_model(m) and "dist" in m.model_fields for m in members):
            return "distribution"
        if all(_is_model(m) and "kind" in m.model_fields for m in members):
            return "name or table"
        names = [_type_name(a, []) for a in typing.get_args(annotation)]
        return " or ".join(n for n in names if n != "NoneType") + (
            " (optional)" if type(None) in typing.get_args(annotation) else ""
        )
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0], [])
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
            nested.append((annotation, f"{path}.", field))
            continue
        if typing.get_origin(annotation) is list and _is_model(typing.get_args(annotation)[0]):
            nested.append((typing.get_args(annotation)[0], f"{path}[].", field))
            continue
        kind = _type_name(annotation, list(field.metadata))
        default = _default(field)
        if kind == _DURATION_HINT and isinstance(field.default, float):
            default = f'"{format_duration(field.default)}"'
        description = " ".join((field.description or "").split())
        rows.append((path, kind, default, description))
    for inner, path, field in nested:
        if field.description:
            rows.append((path.rstrip("."), "table", "", " ".join(field.description.split())))
        rows.extend(_rows(inner, path))  # type: ignore[arg-type]
    return rows


def scenario_reference() -> str:
    """Markdown: one table row per scenario field, with type/unit, default and meaning."""
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for path, kind, default, description in _rows(Scenario, ""):
        lines.append(f"| `{path}` | {kind} | {default} | {description} |")
    return "\n".join(lines)


def preset_table() -> str:
    """Markdown: every refresh preset, its parameters and the library it copies."""
    lines = ["| preset | strategy | source |", "|---|---|---|"]
    for name, table in PRESETS.items():
        params = ", ".join(f"{k} = {_show(v)}" for k, v in table.items() if k != "kind")
        strategy = f"`{table['kind']}`" + (f" ({params})" if params else "")
        lines.append(f"| `{name}` | {strategy} | {PRESET_SOURCES[name]} |")
    return "\n".join(lines)


def generated() -> str:
    """The block between the README's reference markers."""
    return "\n".join(
        [
            START,
            "### Scenario reference",
            "",
            'Durations are written `"15ms"`, `"90s"`, `"6h"`, `"2d"`, `"1h30m"` or as bare seconds.'
            " Distributions are tables chosen by `dist`: `fixed` (value), `exponential` (mean),"
            " `lognormal` (median, sigma), `uniform` (low, high), `normal` (mean, sd).",
            "",
            scenario_reference(),
            "",
            "### Refresh strategy presets",
            "",
            "A cohort's `refresh` is a preset name or a table with `kind` = `reactive`,"
            " `fixed_lead` (lead), `fraction` (fraction, min_lifetime, fallback_lead),"
            " `fraction_jitter` (fraction, lead_min, lead_max) or `advisory_mandatory`"
            " (advisory, mandatory).",
            "",
            preset_table(),
            END,
        ]
    )


def update_readme(path: Path) -> bool:
    """Replace the block between the markers in `path`; return whether it changed."""
    text = path.read_text()
    start, end = text.index(START), text.index(END) + len(END)
    updated = text[:start] + generated() + text[end:]
    path.write_text(updated)
    return updated != text


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        changed = update_readme(Path("README.md"))
        print("README.md updated" if changed else "README.md already up to date")
    else:
        print(generated())
