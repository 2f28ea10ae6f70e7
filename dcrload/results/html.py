"""`report.html`: one self-contained file per run, to share a launch review as one file.

In the manner of Locust's HTML report: the verdict first, then the summary tables, the
pictures embedded as base64 PNG, and the scenario as it ran (TOML, every default filled in,
so the file alone says what was simulated). No script, no stylesheet, font or image is
fetched from anywhere: the page opens the same offline, in a mail attachment or a wiki.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcrload.results import style
from dcrload.results.files import ENDPOINTS

CSS = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1240px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.verdict { padding: .6em 1em; border-left: 6px solid #888; background: #f4f4f4; }
.ok { border-color: #2ca02c; } .bad { border-color: #d62728; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { padding: .25em .7em; border-bottom: 1px solid #ddd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { text-align: left; background: #fafafa; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 1em; overflow-x: auto; font-size: 13px; }
.muted { color: #666; }
"""


@dataclass
class HtmlTable:
    caption: str
    header: list[str]
    rows: list[list[Any]]


@dataclass
class HtmlReport:
    """What one report.html holds; `passed` None means the run has no verdict to give."""

    title: str
    verdict: str = ""
    passed: bool | None = None
    tables: list[HtmlTable] = field(default_factory=list)
    pictures: list[Path] = field(default_factory=list)
    scenario_toml: str = ""
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def render(report: HtmlReport) -> str:
    """The page as one string; every picture read and embedded now."""
    e = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
    ]
    if report.verdict:
        kind = "" if report.passed is None else " ok" if report.passed else " bad"
        parts.append(f'<p class="verdict{kind}">{e(report.verdict)}</p>')
    parts += [f'<p class="muted">{e(note)}</p>' for note in report.notes]
    for table in report.tables:
        parts.append(f"<h2>{e(table.caption)}</h2><table><tr>")
        parts += [f"<th>{e(h)}</th>" for h in table.header]
        parts.append("</tr>")
        for row in table.rows:
            cells = []
            for value in row:
                numeric = isinstance(value, int | float) or _looks_numeric(value)
                text = _cell(value)
                cells.append(f'<td class="n">{e(text)}</td>' if numeric else f"<td>{e(text)}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</table>")
    for picture in report.pictures:
        data = base64.b64encode(picture.read_bytes()).decode("ascii")
        parts.append(f"<h2>{e(picture.name)}</h2>")
        parts.append(f'<img alt="{e(picture.name)}" src="data:image/png;base64,{data}">')
    if report.scenario_toml:
        parts.append("<h2>The scenario as run</h2>")
        parts.append(f"<pre>{e(report.scenario_toml)}</pre>")
    if report.files:
        parts.append('<h2>Files beside this report</h2><p class="muted">')
        parts.append(e(", ".join(report.files)) + "</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(path: Path, report: HtmlReport) -> None:
    path.write_text(render(report), encoding="utf-8")


def _looks_numeric(value: Any) -> bool:
    text = str(value).replace(",", "").replace("±", "").replace(" ", "")
    return bool(text) and all(c in "0123456789.-+kMGe%[]" for c in text)


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return style.human(value)
    return str(value)


# ----------------------------------------------------------------- run summaries as tables


def endpoint_table(summary: Mapping[str, Any], caption: str = "Requests by endpoint") -> HtmlTable:
    """Every endpoint's requests, rates and outcomes: the full figures, unabbreviated."""
    rows = []
    for endpoint in ENDPOINTS:
        data = summary["endpoints"][endpoint]
        outcomes = ", ".join(f"{k}: {v:,}" for k, v in data["by_outcome"].items()) or "none"
        rows.append(
            [
                endpoint,
                data["requests"],
                f"{data['mean_rps']:.4g}",
                f"{data['peak_rps']:.4g}",
                f"{data['p99_rps']:.4g}",
                outcomes,
            ]
        )
    header = ["endpoint", "requests", "mean req/s", "peak req/s", "p99 req/s", "by outcome"]
    return HtmlTable(caption, header, rows)


def impact_table(impact: Mapping[str, Any]) -> HtmlTable:
    rows: list[list[Any]] = [[label, value] for label, value in style.impact_items(dict(impact))]
    for window in impact.get("recovery", []):
        after = window["recovery_s"]
        told = "not within the run" if after is None else f"{after / 60:.0f} min after it ended"
        rows.append([f"{window['fault']}: back to baseline", told])
    return HtmlTable("User impact", ["counter", "value"], rows)


# ----------------------------------------------------------------- the scenario as TOML


def scenario_toml(data: Mapping[str, Any]) -> str:
    """A TOML document of a (JSON-dumped) scenario; None values are left out (TOML has no
    null, and a missing optional field means the same)."""
    lines: list[str] = []
    _table(lines, [], data)
    return "\n".join(lines).strip() + "\n"


def _table(lines: list[str], path: list[str], data: Mapping[str, Any]) -> None:
    scalars = {
        k: v
        for k, v in data.items()
        if v is not None and not isinstance(v, dict) and not _is_table_array(v)
    }
    if path and (scalars or not any(isinstance(v, dict) for v in data.values())):
        lines.append(f"\n[{'.'.join(path)}]")
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            _table(lines, [*path, _key(key)], value)
        elif _is_table_array(value):
            for item in value:
                lines.append(f"\n[[{'.'.join([*path, _key(key)])}]]")
                _array_item(lines, [*path, _key(key)], item)


def _array_item(lines: list[str], path: list[str], data: Mapping[str, Any]) -> None:
    for key, value in data.items():
        if value is not None and not _is_table_array(value):
            lines.append(f"{_key(key)} = {_value(value)}")  # tables inline: one item, one block
    for key, value in data.items():
        if _is_table_array(value):
            for item in value:
                lines.append(f"\n[[{'.'.join([*path, _key(key)])}]]")
                _array_item(lines, [*path, _key(key)], item)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None)
        return "{" + inner + "}" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def scenario_text(scenario: Any) -> str:
    """The validated scenario (every default filled in) as TOML."""
    return scenario_toml(scenario.model_dump(mode="json", by_alias=True))


def pictures_in(folder: Path, names: Sequence[str]) -> list[Path]:
    """The pictures of `names` that exist in `folder`, in that order."""
    return [folder / n for n in names if (folder / n).is_file()]


def simulation_report(
    folder: Path, summary: Mapping[str, Any], scenario: Any, title: str
) -> HtmlReport:
    """report.html of `dcrload simulate` (and the measured half of a load test)."""
    impact = summary["impact"]
    peak = summary["endpoints"]["token"]["peak_rps"]
    verdict = (
        f"{sum(summary['endpoints'][e]['requests'] for e in ENDPOINTS):,} requests in"
        f" {summary['simulated_seconds'] / 3600:g} simulated hours; token peak"
        f" {style.human(peak)} req/s; {impact['reauthentications']:,} re-authentications,"
        f" {impact['expired_token_calls']:,} expired-token calls,"
        f" {style.human(impact['blocked_instance_seconds'] / 3600)} blocked instance-hours."
    )
    return HtmlReport(
        title=title,
        verdict=verdict,
        tables=[endpoint_table(summary), impact_table(impact)],
        pictures=pictures_in(folder, ["report.png"]),
        scenario_toml=scenario_text(scenario),
        notes=[f"seed {summary['seed']}; rates are per second of simulated time"],
        files=sorted(p.name for p in folder.iterdir() if p.name != "report.html"),
    )


def loadtest_report(
    folder: Path,
    summary: Mapping[str, Any],
    comparison: Mapping[str, Any],
    scenario: Any,
    title: str,
    verdict: str,
    passed: bool,
) -> HtmlReport:
    """report.html of `dcrload loadtest`: the verdict, measured against predicted."""
    rows = []
    for endpoint in ENDPOINTS:
        data = comparison["endpoints"][endpoint]
        rows.append(
            [
                endpoint,
                data["predicted"],
                data["measured"],
                f"{data['relative_error']:.1%}",
                "ok" if data["passed"] else "OUT OF TOLERANCE",
            ]
        )
    check = HtmlTable(
        f"Prediction check (tolerance {comparison['tolerance']:.0%},"
        f" slack {comparison['slack']} requests)",
        ["endpoint", "predicted", "measured", "error", "verdict"],
        rows,
    )
    loadtest = summary.get("loadtest", {})
    tables = [check, endpoint_table(summary, "Measured requests by endpoint (simulated time)")]
    thresholds = threshold_table(scenario, loadtest)
    if thresholds.rows:
        tables.append(thresholds)
    tables.append(impact_table(summary["impact"]))
    scale = loadtest.get("time_scale", 1)
    return HtmlReport(
        title=title,
        verdict=verdict,
        passed=passed,
        tables=tables,
        pictures=pictures_in(folder, ["comparison.png", "report.png"]),
        scenario_toml=scenario_text(scenario),
        notes=[
            f"time ran {scale:g}× faster than real: a rate per simulated second here is"
            f" {scale:g}× that in real requests/s; Locust's own figures are real time"
            " (locust.html)",
        ],
        files=sorted(p.name for p in folder.iterdir() if p.name != "report.html"),
    )


def threshold_table(scenario: Any, loadtest: Mapping[str, Any]) -> HtmlTable:
    """Every threshold the scenario sets: the measured value, the limit, held or breached."""
    limits = scenario.loadtest.thresholds.model_dump()
    values = loadtest.get("thresholds", {})
    breached = {b["name"] for b in loadtest.get("breaches", [])}
    rows = [
        [
            name,
            f"{values[name]:.4g}" if name in values else "not measured",
            f"{limit:.4g}",
            "BREACHED" if name in breached else "held",
        ]
        for name, limit in limits.items()
        if limit is not None
    ]
    return HtmlTable(
        "Thresholds ([loadtest.thresholds]; latencies in real ms)",
        ["threshold", "measured", "limit", "verdict"],
        rows,
    )


def compare_report(
    folder: Path,
    stats: Sequence[Any],
    advice: Mapping[str, Any],
    marks: Mapping[str, str],
    scenario: Any,
    title: str,
    notes: Sequence[str] = (),
) -> HtmlReport:
    """report.html of `dcrload compare`: the recommendation, every interval in full."""
    from dcrload.analysis.comparison import METRICS, cell_text

    rows = [
        [v.label + marks.get(v.label, ""), *(cell_text(v.intervals[m.key]) for m in METRICS)]
        for v in stats
    ]
    table = HtmlTable(
        "Mean over seeds [95 % Student t interval]",
        ["variant", *(m.label for m in METRICS)],
        rows,
    )
    return HtmlReport(
        title=title,
        verdict=str(advice["verdict"]),
        passed=advice.get("recommended") is not None,
        tables=[table],
        pictures=pictures_in(folder, ["token-load.png", "metrics.png", "pareto.png"]),
        scenario_toml=scenario_text(scenario),
        notes=list(notes),
        files=sorted(p.name for p in folder.iterdir() if p.name != "report.html"),
    )
