"""`dcrload simulate` as a user runs it, from the repository root.

Covers the README's first command, every shipped scenario, the files a run leaves and their
contract (DESIGN.md), conservation between timeseries.csv and summary.json, determinism, and
what bad input does (one line on stderr, exit status 2, nothing written). The README's
command and the runs whose hash seed matters start their own interpreter; the others run in
this process (`dcrload_here`), where start-up would be much of their cost.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cli_runner import dcrload, dcrload_here

from dcrload.cli import main
from dcrload.results.files import read_timeseries

pytestmark = pytest.mark.xdist_group("simulate_cli")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OUTAGE = 'faults.outages=[{start = "6h", duration = "30m"}]'


# --------------------------------------------------------------- the README's first command


@pytest.fixture(scope="module")
def readme_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("readme") / "run"
    done = dcrload("simulate", "--set", "fleet.instances=500", "--out", str(out))
    return out, done


def test_readme_command_leaves_its_files(
    readme_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, done = readme_run
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "report.html",
        "report.png",
        "service.csv",
        "summary.json",
        "timeseries.csv",
    ]
    assert f"results: {out}" in done.stdout
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_report_is_a_real_png(readme_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = readme_run
    data = (out / "report.png").read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 600 and height >= 400
    assert len(data) > 20_000  # three panels of plots, not an empty canvas


def test_summary_has_every_field_of_the_contract(
    readme_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    out, _ = readme_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "default"
    assert isinstance(summary["seed"], int)
    assert summary["simulated_seconds"] == 2 * 86400
    assert set(summary["endpoints"]) >= {"register", "token", "api"}
    for endpoint in ("register", "token", "api"):
        data = summary["endpoints"][endpoint]
        assert isinstance(data["requests"], int)
        assert isinstance(data["by_outcome"], dict)
        assert all(isinstance(n, int) for n in data["by_outcome"].values())
        for rate in ("mean_rps", "peak_rps", "p99_rps"):
            assert isinstance(data[rate], float | int)
        assert data["mean_rps"] <= data["p99_rps"] <= data["peak_rps"]
    impact = summary["impact"]
    assert isinstance(impact["reauthentications"], int)
    assert isinstance(impact["expired_token_calls"], int)
    assert isinstance(impact["blocked_instance_seconds"], float | int)
    assert isinstance(impact["registrations_per_install"], float | int)
    engine = summary["engine"]
    assert isinstance(engine["events"], int) and engine["events"] > 0
    assert engine["wall_seconds"] > 0
    assert engine["events_per_second"] > 0


def test_printed_table_shows_each_endpoint(
    readme_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, done = readme_run
    for word in ("register", "token", "api", "impact"):
        assert word in done.stdout


@pytest.fixture(scope="module")
def shipped_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    base = tmp_path_factory.mktemp("shipped")
    jobs = {
        path.name: [
            "simulate",
            str(path.relative_to(ROOT)),
            "--set",
            "fleet.instances=100",
            "--set",
            "fleet.installs.total=300",
            "--set",
            "scenario.duration=6h",
            "--out",
            str(base / path.stem),
        ]
        for path in SHIPPED
    }
    # in this process: nine interpreters would cost their start-up, and the runs are
    # checked for what they wrote (the same command in a subprocess is tested above)
    done = {name: dcrload_here(*args) for name, args in jobs.items()}
    return {path.name: (base / path.stem, done[path.name]) for path in SHIPPED}


def test_every_shipped_scenario_runs(shipped_runs: dict[str, tuple[Path, Any]]) -> None:
    """One test, so that the runs happen once (a module fixture runs on every xdist worker
    that gets one of its tests)."""
    for path in SHIPPED:
        out, done = shipped_runs[path.name]
        assert done.returncode == 0, (path.name, done.stderr)
        summary = json.loads((out / "summary.json").read_text())
        assert summary["simulated_seconds"] == 6 * 3600, path.name
        assert summary["endpoints"]["token"]["requests"] > 0, path.name


# --------------------------------------------------------------- conservation


def _check_conservation(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    rows = read_timeseries(out / "timeseries.csv")
    assert rows, "an empty time series conserves nothing"
    by_outcome: Counter[tuple[str, str]] = Counter()
    by_endpoint: Counter[str] = Counter()
    bin_width = summary.get("bin_seconds", 300.0)
    for start, endpoint, outcome, requests in rows:
        assert requests > 0
        assert 0 <= start < summary["simulated_seconds"]
        assert start % bin_width == 0
        by_outcome[endpoint, outcome] += requests
        by_endpoint[endpoint] += requests
    for endpoint, data in summary["endpoints"].items():
        assert by_endpoint[endpoint] == data["requests"], endpoint
        assert sum(data["by_outcome"].values()) == data["requests"], endpoint
        for outcome, count in data["by_outcome"].items():
            assert by_outcome[endpoint, outcome] == count, (endpoint, outcome)
    assert set(by_endpoint) <= set(summary["endpoints"])
    assert {k for k in by_outcome} == {
        (e, o) for e, data in summary["endpoints"].items() for o in data["by_outcome"]
    }
    # the mean rate is the total over the simulated time
    for data in summary["endpoints"].values():
        assert data["mean_rps"] == pytest.approx(data["requests"] / summary["simulated_seconds"])


def test_timeseries_adds_up_to_the_summary(shipped_runs: dict[str, tuple[Path, Any]]) -> None:
    """On every shipped scenario's run (both engines, revocations and outages among them)."""
    for path in SHIPPED:
        out, done = shipped_runs[path.name]
        assert done.returncode == 0, (path.name, done.stderr)
        _check_conservation(out)


def test_timeseries_adds_up_to_the_summary_with_an_outage(three_runs: list[Path]) -> None:
    """On the determinism runs' first (the default scenario with a 30-minute outage)."""
    out = three_runs[0]
    _check_conservation(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["endpoints"]["token"]["by_outcome"].get("503", 0) > 0


# --------------------------------------------------------------- determinism


SMALL = ("--set", "fleet.instances=300", "--set", "scenario.duration=12h", "--set", OUTAGE)


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Seed 7 twice, each in a fresh interpreter with its own hash seed, and seed 8 in this
    process meanwhile (it is only compared with seed 7: its hash seed is no matter)."""
    base = tmp_path_factory.mktemp("determinism")
    args = ["simulate", *SMALL, "--seed"]
    fresh = [
        subprocess.Popen(
            [sys.executable, "-m", "dcrload", *args, "7", "--out", str(base / name)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "COLUMNS": "120", "PYTHONHASHSEED": hash_seed},
        )
        for name, hash_seed in (("a", "1"), ("b", "2"))
    ]
    try:
        other = dcrload_here(*args, "8", "--out", str(base / "c"))
        assert other.returncode == 0, other.stderr
        for process in fresh:
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
    finally:
        for process in fresh:
            if process.poll() is None:
                process.kill()
                process.wait()
    return [base / name for name in ("a", "b", "c")]


def _summary_without_engine(out: Path) -> dict[str, Any]:
    summary = json.loads((out / "summary.json").read_text())
    del summary["engine"]
    return summary


def test_same_seed_gives_identical_outputs(three_runs: list[Path]) -> None:
    first, again, _ = three_runs
    assert _summary_without_engine(first) == _summary_without_engine(again)
    assert (first / "timeseries.csv").read_bytes() == (again / "timeseries.csv").read_bytes()


def test_different_seed_gives_a_different_run(three_runs: list[Path]) -> None:
    first, _, other = three_runs
    assert _summary_without_engine(other)["seed"] == 8
    assert (first / "timeseries.csv").read_bytes() != (other / "timeseries.csv").read_bytes()


# --------------------------------------------------------------- bad input


BAD_FILES = {
    "invalid-toml": ("[fleet\ninstances = 10\n", ["not valid TOML"]),
    "wrong-type": ('[fleet]\ninstances = "lots"\n', ["fleet.instances", "whole number"]),
    "unknown-field": ("[fleet]\ninstancez = 10\n", ["fleet.instancez"]),
    "bad-duration": ('[token]\nttl = "six hours"\n', ["token.ttl", "duration"]),
    "shares": (
        '[[cohorts]]\nname = "a"\nshare = 0.6\n[[cohorts]]\nname = "b"\nshare = 0.6\n',
        ["shares", "add up to 1"],
    ),
    "bad-preset": ('[[cohorts]]\nshare = 1.0\nrefresh = "gogle-auth"\n', ["cohorts.0.refresh"]),
}


BAD_SETS = {
    "unknown-path": ("fleet.instancez=10", ["fleet.instancez"]),
    "bad-value": ("fleet.instances=many", ["fleet.instances", "'many'"]),
    "no-equals": ("fleet.instances", ["fleet.instances", "path=value"]),
    "no-such-item": ("cohorts.9.share=1", ["cohorts", "9"]),
    "bad-duration": ("token.ttl=soon", ["token.ttl"]),
}


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any, list[str]]]:
    """Every bad-input case, each in its own folder, run at once: (folder, process, expected)."""
    cases: dict[str, tuple[Path, list[str], list[str]]] = {}
    for case, (text, expected) in BAD_FILES.items():
        folder = tmp_path_factory.mktemp(f"file-{case}")
        scenario = folder / f"{case}.toml"
        scenario.write_text(text)
        args = ["simulate", str(scenario), "--out", str(folder / "x")]
        cases[f"file-{case}"] = (folder, args, [str(scenario), *expected])
    for case, (override, expected) in BAD_SETS.items():
        folder = tmp_path_factory.mktemp(f"set-{case}")
        cases[f"set-{case}"] = (
            folder,
            ["simulate", "--set", override, "--out", str(folder / "x")],
            expected,
        )
    folder = tmp_path_factory.mktemp("missing")
    cases["missing-file"] = (
        folder,
        ["simulate", "scenarios/no-such.toml", "--out", str(folder / "x")],
        ["scenarios/no-such.toml"],
    )
    folder = tmp_path_factory.mktemp("seed")
    cases["negative-seed"] = (
        folder,
        ["simulate", "--seed", "-3", "--out", str(folder / "x")],
        ["--seed"],
    )
    done = {case: dcrload_here(*args) for case, (_, args, _) in cases.items()}
    return {case: (folder, done[case], expected) for case, (folder, _, expected) in cases.items()}


@pytest.mark.parametrize(
    "case",
    [f"file-{c}" for c in BAD_FILES]
    + [f"set-{c}" for c in BAD_SETS]
    + ["missing-file", "negative-seed"],
)
def test_bad_input_is_refused_in_one_line_and_writes_nothing(
    case: str, refused: dict[str, tuple[Path, Any, list[str]]]
) -> None:
    folder, done, expected = refused[case]
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for text in expected:
        assert text in lines[0]
    assert not (folder / "x").exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert "results:" not in done.stdout


def test_bad_input_in_process_returns_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x"
    assert main(["simulate", "--set", "fleet.instances=-1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "fleet.instances" in err
    assert list(tmp_path.iterdir()) == []
