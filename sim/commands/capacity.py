"""`dcrload capacity SCENARIO --slo 'token.p99<=250ms' [--slo ...] [--over server.workers]
[--range LOW..HIGH] [--seeds K] [--out DIR]`: the least capacity that meets every SLO.

Bisection over the axis (`dcrload.analysis.capacity.search`): each probe simulates the
scenario at one capacity for every seed and passes when every seed meets every SLO. Runs
are kept in `<out>/runs/` under the same keys as `dcrload compare` (resolved scenario,
seed, code), so a second search with other SLOs or a wider range re-runs nothing it has.

Writes `capacity.json` (the answer, its margin, every probe with each SLO's figure per
seed and its interval), `capacity.png` (each SLO's figure against capacity, the threshold
and the answer marked), `report.html`, and prints a one-line verdict. Exit status 0 when
an answer exists in the range, 3 (`EXIT_NO_ANSWER`) when none does, 2 for bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dcrload.commandline.arguments import add_overrides, add_scenario
from dcrload.core.errors import UsageError

NAME = "capacity"
HELP = "Find the least capacity (workers by default) whose every seed meets every SLO."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_scenario(parser, optional=False)
    parser.add_argument(
        "--slo",
        action="append",
        default=[],
        required=True,
        metavar="SLO",
        help="an objective, repeatable: 'token.p99<=250ms', 'token.wait.p95<=50ms',"
        " 'register.error_rate<=0.001@outage+30m', 'workers.utilisation<=0.7@18h..20h'",
    )
    parser.add_argument(
        "--over",
        default="server.workers",
        metavar="PATH",
        help="the capacity axis: server.workers (default), server.service_time"
        " (its mean; the largest that passes) or server.throttle.rate",
    )
    parser.add_argument(
        "--range",
        dest="span",
        metavar="LOW..HIGH",
        help="the axis's range (default 1..1024 workers, 0.5ms..1s, 0.01..100 per s)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=3,
        metavar="K",
        help="seeds per probe: the scenario's seed, seed+1, ... (default 3)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="search folder; reusing it reuses its runs"
        " (default results/<scenario>-capacity-<hash of scenario and axis>)",
    )
    add_overrides(parser, "fleet.instances=1000")


def run(args: argparse.Namespace) -> int:
    from dcrload.analysis.capacity import EXIT_NO_ANSWER, parse_axis, parse_slo
    from dcrload.model.scenario import load_scenario
    from sim import sweep

    if args.seeds < 1:
        raise UsageError(f"--seeds {args.seeds}: expected a positive integer")
    slos = [parse_slo(text) for text in args.slo]
    if len({slo.text for slo in slos}) != len(slos):
        raise UsageError("--slo: the same objective was given twice")
    axis = parse_axis(args.over, args.span)
    scenario = load_scenario(args.scenario, list(args.overrides))
    if axis.path == "server.throttle.rate" and not scenario.server.throttle.enabled:
        raise UsageError("--over server.throttle.rate: the scenario's throttle is not enabled")
    for slo in slos:
        if slo.window.kind != "run" and not slo.window.spans(scenario):
            raise UsageError(f"--slo {slo.text!r}: the scenario has no {slo.window.kind}")
    base_seed = scenario.scenario.seed
    seeds = [base_seed + k for k in range(args.seeds)]
    fingerprint = sweep._digest({"scenario": sweep._dump(scenario), "axis": axis.path})[:10]
    out: Path = args.out or Path("results") / f"{scenario.name}-capacity-{fingerprint}"
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "runs").is_dir())):
        raise UsageError(f"{out}: exists and holds no dcrload capacity search")
    store = sweep.RunStore(out / "runs")
    code = sweep.code_fingerprint()
    searcher = Searcher(scenario, axis, slos, seeds, store, code)
    with store.locked():
        store.clean_temporaries()
        answer, probes = searcher.search()
        report = write_outputs(out, scenario, axis, slos, seeds, answer, probes, searcher)
    print(report["verdict"])
    print(f"results: {out}")
    return 0 if answer is not None else EXIT_NO_ANSWER


class Searcher:
    """Runs (or finds on disk) each probe's seeds and judges them against the SLOs."""

    def __init__(self, scenario: Any, axis: Any, slos: list[Any], seeds: list[int],
                 store: Any, code: str) -> None:  # fmt: skip
        self.scenario, self.axis, self.slos, self.seeds = scenario, axis, slos, seeds
        self.store, self.code = store, code
        self.ran = 0
        self.reused = 0

    def counts_of(self, scenario: Any, seed: int) -> Any:
        """The RunCounts of one run: from the store, or simulated and stored."""
        from dcrload.model.counts import RunCounts
        from dcrload.results.summary import summary_of
        from sim import sweep
        from sim.fleet import simulate

        key = sweep.run_key(scenario, seed, self.code)
        record = self.store.load(key)
        if record is None or "counts" not in record:
            result = simulate(scenario, seed=seed)
            record = {
                "format": sweep.RECORD_FORMAT,
                "key": key,
                "code": self.code,
                "seed": seed,
                "summary": summary_of(result),
                "counts": result.counts.to_json(),
                "finished_at": time.time(),
            }
            self.store.write(record)
            self.ran += 1
        else:
            self.reused += 1
        info = scenario.scenario
        counts = RunCounts(info.duration, info.bin, len(scenario.cohorts))
        counts.merge(record["counts"])
        return counts

    def probe(self, value: float) -> Any:
        from dcrload.analysis.capacity import Probe

        scenario = self.axis.apply(self.scenario, value)
        figures: dict[str, list[float]] = {slo.text: [] for slo in self.slos}
        for seed in self.seeds:
            counts = self.counts_of(scenario, seed)
            for slo in self.slos:
                figures[slo.text].append(slo.figure(counts, scenario))
        passed = all(slo.meets(v) for slo in self.slos for v in figures[slo.text])
        order = len(self.probes) + 1
        made = Probe(value, passed, figures, order)
        self.probes.append(made)
        mark = "meets every SLO" if passed else "fails"
        print(f"probe {order}: {self.axis.path}={self.axis.label(value)} {mark}", file=sys.stderr)
        return made

    def search(self) -> tuple[float | None, list[Any]]:
        from dcrload.analysis.capacity import search

        self.probes: list[Any] = []
        return search(self.axis, self.probe)


def write_outputs(out: Path, scenario: Any, axis: Any, slos: list[Any], seeds: list[int],
                  answer: float | None, probes: list[Any], searcher: Searcher
                  ) -> dict[str, Any]:  # fmt: skip
    """capacity.json, capacity.png and report.html; returns the report (with its verdict)."""
    from dcrload.analysis.capacity import margin, probe_budget
    from dcrload.analysis.stats import mean_interval
    from dcrload.results.capacity_plot import plot_capacity
    from sim.sweep import write_atomic

    def entry(probe: Any) -> dict[str, Any]:
        judged = {}
        for slo in slos:
            values = probe.figures[slo.text]
            interval = mean_interval(values, floor=0.0)
            judged[slo.text] = {
                "seeds": values,
                "mean": interval.mean,
                "low": interval.low if interval.known else None,
                "high": interval.high if interval.known else None,
                "worst": max(values),
                "threshold": slo.threshold,
                "met": all(slo.meets(v) for v in values),
            }
        return {"value": probe.value, "label": axis.label(probe.value), "order": probe.order,
                "passed": probe.passed, "slos": judged}  # fmt: skip

    chosen = next((p for p in probes if p.value == answer), None)
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "axis": {
            "path": axis.path,
            "low": axis.low,
            "high": axis.high,
            "more_capacity": "larger" if axis.increasing else "smaller",
        },
        "slos": [
            {
                "text": s.text,
                "endpoint": s.endpoint,
                "measure": s.measure,
                "metric": s.metric,
                "threshold": s.threshold,
                "unit": s.unit,
                "window": s.window.text(),
            }
            for s in slos
        ],
        "seeds": seeds,
        "answer": answer,
        "answer_label": None if answer is None else axis.label(answer),
        "margin": margin(slos, chosen) if chosen is not None else None,
        "probes": [entry(p) for p in probes],
        "probe_budget": probe_budget(axis),
        "runs": {"simulated": searcher.ran, "reused": searcher.reused},
        "command": ["dcrload", *sys.argv[1:]],
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report["verdict"] = verdict(report, slos, axis, probes)
    write_atomic(out / "capacity.json", json.dumps(report, indent=2) + "\n")
    temp = out / ".capacity.tmp.png"
    plot_capacity(temp, report, slos, axis)
    os.replace(temp, out / "capacity.png")
    _write_html(out, report, scenario)
    return report


def _figure_text(slo: Any, value: float) -> str:
    if slo.unit == "s":
        return f"{value * 1000:.4g} ms"
    return f"{value:.4g}"


def verdict(report: dict[str, Any], slos: list[Any], axis: Any, probes: list[Any]) -> str:
    """One line: the answer and what fails just below it, or why there is none."""
    name, seeds, count = report["scenario"], len(report["seeds"]), len(probes)
    if report["answer"] is None:
        top = probes[0]
        failing = [s for s in slos if not all(s.meets(v) for v in top.figures[s.text])]
        why = "; ".join(f"{s.text} is {_figure_text(s, max(top.figures[s.text]))}" for s in failing)
        return (
            f"{name}: no {axis.path} in {axis.label(axis.low)}..{axis.label(axis.high)}"
            f" meets every SLO on {seeds} seed(s) — at {axis.label(top.value)}, {why}"
            f" ({count} probe{'s' * (count != 1)})"
        )
    below = [p for p in probes if not p.passed]
    nearest = max(below, key=lambda p: p.value if axis.increasing else -p.value) if below else None
    text = (
        f"{name}: {axis.path}={report['answer_label']} is the "
        f"{'least' if axis.increasing else 'largest'} that meets every SLO on all {seeds}"
        f" seed(s)"
    )
    if nearest is not None:
        failing = [s for s in slos if not all(s.meets(v) for v in nearest.figures[s.text])]
        text += f"; {axis.label(nearest.value)} fails " + ", ".join(
            f"{s.text} ({_figure_text(s, max(nearest.figures[s.text]))})" for s in failing
        )
    return text + f" ({count} probe{'s' * (count != 1)})"


def _write_html(out: Path, report: dict[str, Any], scenario: Any) -> None:
    from dcrload.results.html import HtmlReport, HtmlTable, scenario_text, write_html

    rows = []
    for probe in sorted(report["probes"], key=lambda p: p["value"]):
        cells = [probe["label"], "yes" if probe["passed"] else "no"]
        for slo in report["slos"]:
            judged = probe["slos"][slo["text"]]
            scale = 1000.0 if slo["unit"] == "s" else 1.0
            cells.append(f"{judged['worst'] * scale:.4g}")
        rows.append(cells)
    headers = [report["axis"]["path"], "meets all"] + [
        f"{s['text']} (worst seed{', ms' if s['unit'] == 's' else ''})" for s in report["slos"]
    ]
    page = HtmlReport(
        title=f"dcrload capacity — {report['scenario']}",
        verdict=report["verdict"],
        passed=report["answer"] is not None,
        pictures=[out / "capacity.png"],
        tables=[HtmlTable("Probes, in order of capacity", headers, rows)],
        scenario_toml=scenario_text(scenario),
        notes=[
            f"seeds {', '.join(map(str, report['seeds']))}; a probe meets an SLO when"
            " every seed does"
        ],
        files=["capacity.json", "capacity.png", "runs/"],
    )
    temp = out / ".report.tmp.html"
    write_html(temp, page)
    os.replace(temp, out / "report.html")
