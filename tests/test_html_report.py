"""`report.html`: one self-contained file after simulate, compare and loadtest.

The page must embed its pictures (the very bytes of the PNGs beside it), fetch nothing
(no URL, no script, no stylesheet link), carry the summary tables and the verdict, and hold
the scenario as run as TOML that validates back to the same scenario. The load test's page
is covered here from hand-built documents and end to end in `test_locust_replay.py`.
"""

from __future__ import annotations

import base64
import re
import tomllib
from pathlib import Path

import pytest

from dcrload.cli import main
from dcrload.model.scenario import load_scenario, validate
from dcrload.results.html import HtmlReport, loadtest_report, render, scenario_text, write_html

pytestmark = pytest.mark.xdist_group("html_report")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))


def fetches(page: str) -> list[str]:
    """Everything in the page that would make a browser fetch something."""
    found = re.findall(r"(?:https?:)?//[\w.-]+\.\w+", page)
    found += re.findall(r"<(?:script|link|iframe|object)\b", page, flags=re.I)
    found += [s for s in re.findall(r'src="([^"]*)"', page) if not s.startswith("data:")]
    found += re.findall(r"url\(", page)
    return found


def well_formed(page: str) -> bool:
    """Every element that opens closes, in order (void elements aside)."""
    from html.parser import HTMLParser

    void = {"meta", "img", "br", "hr", "link", "input"}
    stack: list[str] = []
    broken: list[str] = []

    class Checker(HTMLParser):
        def handle_starttag(self, tag: str, attrs: object) -> None:
            if tag not in void:
                stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            if not stack or stack.pop() != tag:
                broken.append(tag)

    Checker().feed(page)
    return not stack and not broken


def embedded(page: str, picture: Path) -> bool:
    return f"data:image/png;base64,{base64.b64encode(picture.read_bytes()).decode()}" in page


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html") / "run"
    code = main(["simulate", "scenarios/outage-recovery.toml", "--set", "fleet.instances=60",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_simulate_writes_a_self_contained_report(simulated: Path) -> None:
    page = (simulated / "report.html").read_text()
    assert embedded(page, simulated / "report.png")
    assert fetches(page) == []
    assert well_formed(page)
    assert "Requests by endpoint" in page and "User impact" in page
    assert "blocked instance-hours" in page
    assert "outage 503 at 72000s: back to baseline" in page
    assert "summary.json" in page and "timeseries.csv" in page  # the files beside it


def test_the_scenario_as_run_validates_back_to_the_run(simulated: Path) -> None:
    page = (simulated / "report.html").read_text()
    text = re.search(r"<pre>(.*?)</pre>", page, flags=re.S).group(1)
    import html

    data = tomllib.loads(html.unescape(text))
    assert data["fleet"]["instances"] == 60  # the override, as run
    ran = load_scenario("scenarios/outage-recovery.toml", ["fleet.instances=60"])
    assert validate(data, "report.html") == ran


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_survives_the_toml_round_trip(path: Path) -> None:
    scenario = load_scenario(path)
    assert validate(tomllib.loads(scenario_text(scenario)), str(path)) == scenario


def test_compare_writes_a_report_with_its_three_pictures(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    code = main(["compare", "scenarios/strategy-shootout.toml", "--vary",
                 "cohorts.0.refresh=okta,msal", "--seeds", "2", "--jobs", "1",
                 "--set", "fleet.instances=40", "--set", "scenario.duration=3h",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    page = (out / "report.html").read_text()
    for name in ("token-load.png", "metrics.png", "pareto.png"):
        assert embedded(page, out / name), name
    assert fetches(page) == [] and well_formed(page)
    assert "Recommended:" in page and "okta" in page and "msal" in page
    assert "--vary cohorts.0.refresh=okta,msal" in page


def test_loadtest_report_gives_the_verdict_and_embeds_both_pictures(
    tmp_path: Path, simulated: Path
) -> None:
    import json

    summary = json.loads((simulated / "summary.json").read_text())
    summary["loadtest"] = {
        "time_scale": 60,
        "thresholds": {"token_p95_ms": 812.0, "api_error_rate": 0.001},
        "breaches": [{"name": "token_p95_ms", "value": 812.0, "limit": 250.0}],
    }
    endpoints = {
        e: {"predicted": 100, "measured": 101, "relative_error": 0.01, "passed": True}
        for e in ("register", "token", "api")
    }
    endpoints["token"] = {"predicted": 100, "measured": 130, "relative_error": 0.3, "passed": False}
    comparison = {"tolerance": 0.1, "slack": 3, "endpoints": endpoints}
    for name in ("report.png", "comparison.png"):
        (tmp_path / name).write_bytes((simulated / "report.png").read_bytes())
    scenario = load_scenario(
        "scenarios/outage-recovery.toml",
        ["loadtest.thresholds.token_p95_ms=250", "loadtest.thresholds.api_error_rate=0.05"],
    )
    page = render(loadtest_report(tmp_path, summary, comparison, scenario, "lt",
                                  "1 threshold(s) breached", False))  # fmt: skip
    assert embedded(page, tmp_path / "comparison.png")
    assert fetches(page) == [] and well_formed(page)
    assert 'class="verdict bad"' in page and "1 threshold(s) breached" in page
    assert "OUT OF TOLERANCE" in page
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert ["token_p95_ms", "812", "250", "BREACHED"] in cells
    assert ["api_error_rate", "0.001", "0.05", "held"] in cells
    assert "60× faster than real" in page


def test_the_fetch_check_finds_what_a_browser_would_fetch(tmp_path: Path) -> None:
    page = render(HtmlReport(title="x", verdict="<script>alert(1)</script>"))
    assert fetches(page) == []  # escaped: text, not a script
    assert fetches('<img src="https://cdn.example.com/a.png">')
    assert fetches('<link rel="stylesheet" href="s.css">')
    write_html(tmp_path / "r.html", HtmlReport(title="x"))
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert not well_formed("<table><tr><td>x</tr></table>")  # the check can fail
