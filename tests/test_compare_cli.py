"""`dcrload compare` as a user runs it, from the repository root.

A sweep that is interrupted runs in a subprocess (the signal is the point, and its pool
is the command's own); the others run in this process (`dcrload_here`, one simulation at a
time), where an interpreter's start-up would be much of their cost. Small fleets via
`--set` keep every sweep to a second or two. The simulation is deterministic for a seed,
so the numbers these tests compare never change between runs.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from cli_runner import dcrload_here

ROOT = Path(__file__).resolve().parent.parent
SHOOTOUT = "scenarios/strategy-shootout.toml"
STEADY = "scenarios/steady-state.toml"
TINY = ["--set", "fleet.instances=60", "--set", "scenario.duration=3h"]
OUTPUTS = {
    "comparison.csv",
    "intervals.csv",
    "intervals.md",
    "recommendation.json",
    "sweep.json",
    "token-load.png",
    "metrics.png",
    "pareto.png",
    "report.html",
    "runs",
}


def planned(output: str) -> tuple[int, int]:
    """(runs on disk, runs to run) from the first line a sweep prints."""
    match = re.search(r"(\d+) on disk, (\d+) to run", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def rows(out: Path, name: str = "comparison.csv") -> list[dict[str, str]]:
    with (out / name).open(newline="") as handle:
        return list(csv.DictReader(handle))


def run_files(out: Path) -> dict[str, float]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.json")}


GRID = ["--vary", "cohorts.0.refresh=okta,msal,botocore", "--vary", "token.ttl=1h,6h",
        "--seeds", "2", "--jobs", "1", *TINY]  # fmt: skip


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CompletedProcess[str]]:
    """A 12-run sweep as its first run left it: the grid test reads it, the deleted-runs
    test resumes a copy of it (one sweep fewer to run)."""
    out = tmp_path_factory.mktemp("grid") / "sweep"
    return out, dcrload_here("compare", SHOOTOUT, *GRID, "--out", str(out))


@pytest.mark.xdist_group("compare_grid")  # one sweep, shared
def test_grid_rows_and_a_rerun_does_no_work(grid: tuple[Path, CompletedProcess[str]]) -> None:
    out, first = grid
    assert first.returncode == 0, first.stderr
    assert planned(first.stdout) == (0, 12)
    assert {p.name for p in out.iterdir()} >= OUTPUTS
    table = rows(out)
    assert len(table) == 3 * 2 * 2  # variants x seeds
    assert {(r["variant"], r["seed"]) for r in table} == {
        (f"refresh={s}, ttl={t}", str(seed))
        for s in ("okta", "msal", "botocore")
        for t in ("1h", "6h")
        for seed in (11, 12)
    }
    assert len(run_files(out)) == 12
    assert len(rows(out, "intervals.csv")) == 6 * 8  # variants x metrics
    advice = json.loads((out / "recommendation.json").read_text())
    assert advice["verdict"].split(" — ")[0] in first.stdout
    assert f"results: {out}" in first.stdout

    before = run_files(out)
    again = dcrload_here("compare", SHOOTOUT, *GRID, "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert planned(again.stdout) == (12, 0)
    assert "ran " not in again.stdout
    assert run_files(out) == before  # not one run file rewritten
    assert rows(out) == table


@pytest.mark.xdist_group("compare_grid")  # one sweep, shared
def test_deleted_runs_are_the_only_ones_run_again(
    grid: tuple[Path, CompletedProcess[str]], tmp_path: Path
) -> None:
    out = tmp_path / "sweep"
    shutil.copytree(grid[0], out)  # modification times kept
    files = run_files(out)
    assert len(files) == 12
    lost = sorted(files)[:4]
    for name in lost:
        (out / "runs" / name).unlink()
    resumed = dcrload_here("compare", SHOOTOUT, *GRID, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert planned(resumed.stdout) == (8, 4)
    after = run_files(out)
    assert set(after) == set(files)
    assert sorted(n for n in files if after[n] != files[n]) == lost  # only the lost ones re-ran
    assert len(rows(out)) == 12


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_an_interrupted_sweep_keeps_its_runs_and_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    sweep = ["compare", SHOOTOUT, "--vary", "cohorts.0.refresh=okta,msal,kubelet,botocore",
             "--seeds", "4", "--out", str(out), "--set", "fleet.instances=1500"]  # fmt: skip
    # 1,500 instances: each run long enough (about 0.2 s since the plain day was compiled)
    # that the interrupt lands while runs are still queued, on a loaded machine too
    args = [*sweep, "--jobs", "2"]
    logs = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with logs[0].open("w") as output, logs[1].open("w") as errors:  # files: never a full pipe
        process = subprocess.Popen(
            [sys.executable, "-m", "dcrload", *args],
            cwd=ROOT,
            stdout=output,
            stderr=errors,
            text=True,
            # as from a terminal: a child that inherits an ignored SIGINT keeps ignoring it
            # (Python installs its KeyboardInterrupt handler only where SIGINT is not
            # ignored), and whatever this test process's disposition is must not decide
            preexec_fn=_default_sigint,
        )
        started = time.monotonic()
        while time.monotonic() < started + 60 and not list((out / "runs").glob("*.json")):
            time.sleep(0.05)
        waited = time.monotonic() - started
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    stdout, stderr = (log.read_text() for log in logs)
    here = signal.getsignal(signal.SIGINT)
    assert process.returncode == 130, (
        f"first run after {waited:.1f} s, SIGINT here {here}\n{stdout}\n{stderr}"
    )
    assert "dcrload: interrupted" in stderr and "Traceback" not in stderr
    kept = run_files(out)
    assert 1 <= len(kept) < 16
    for name in kept:  # every file on disk is a whole record
        assert json.loads((out / "runs" / name).read_text())["key"] == name[:-5]
    assert not (out / "comparison.csv").exists()

    # the same sweep, resumed one run at a time in this process: what is checked is which
    # runs it finds on disk and which it runs (the interrupted command had the pool)
    resumed = dcrload_here(*sweep, "--jobs", "1")
    assert resumed.returncode == 0, resumed.stderr
    assert planned(resumed.stdout) == (len(kept), 16 - len(kept))
    assert all(run_files(out)[name] == mtime for name, mtime in kept.items())
    assert len(rows(out)) == 16
    assert not list((out / "runs").glob(".*.tmp"))


def test_intervals_shrink_when_more_seeds_are_added(tmp_path: Path) -> None:
    """`--seeds 8` after `--seeds 2` reuses the first two runs and narrows every interval
    of a noisy metric."""
    out = tmp_path / "sweep"
    base = ["compare", SHOOTOUT, "--vary", "cohorts.0.refresh=kubelet,botocore", "--out",
            str(out), "--set", "fleet.instances=150", "--set", "scenario.duration=12h",
            "--jobs", "1"]  # fmt: skip

    def widths() -> dict[str, float]:
        return {
            r["variant"]: float(r["half_width"])
            for r in rows(out, "intervals.csv")
            if r["metric"] == "token_per_instance_day"
        }

    assert dcrload_here(*base, "--seeds", "2").returncode == 0
    narrow_from = widths()
    more = dcrload_here(*base, "--seeds", "8")
    assert more.returncode == 0, more.stderr
    assert planned(more.stdout) == (4, 12)
    assert len(rows(out)) == 16
    wide_to = widths()
    for label, width in narrow_from.items():
        assert 0 < wide_to[label] < width, (label, width, wide_to[label])


def test_known_answer_a_lead_shorter_than_the_clock_error_is_never_recommended(
    tmp_path: Path,
) -> None:
    """Clocks 10 min behind, tokens read by their `exp` claim: a 30 s lead (okta) sends
    expired tokens, a 15 min lead does not, and only the latter can be recommended — even
    though the 30 s lead asks for fewer tokens."""
    out = tmp_path / "sweep"
    result = dcrload_here(
        "compare", STEADY, "--jobs", "1",
        "--vary", 'cohorts.0.refresh=okta,{kind="fixed_lead", lead="15m"}',
        "--seeds", "3", "--out", str(out),
        "--set", "fleet.instances=200", "--set", "scenario.duration=6h",
        "--set", "cohorts.0.expiry_basis=exp",
        "--set", 'faults.clock.offset={dist="fixed", value="-10m"}',
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    by_variant: dict[str, list[dict[str, str]]] = {}
    for row in rows(out):
        by_variant.setdefault(row["variant"], []).append(row)
    short, long = by_variant["okta"], by_variant["fixed_lead(lead=15m)"]
    assert all(int(r["expired_token_calls"]) > 0 for r in short)
    assert all(int(r["expired_token_calls"]) == 0 for r in long)
    mean = lambda runs, key: sum(float(r[key]) for r in runs) / len(runs)  # noqa: E731
    assert mean(short, "token_per_instance_day") < mean(long, "token_per_instance_day")
    advice = json.loads((out / "recommendation.json").read_text())
    assert advice["recommended"]["variant"] == "fixed_lead(lead=15m)"
    assert advice["qualifying"] == ["fixed_lead(lead=15m)"]
    assert [e["variant"] for e in advice["excluded"]] == ["okta"]
    assert "Recommended: fixed_lead(lead=15m)" in result.stdout


@pytest.mark.parametrize(
    ("vary", "message"),
    [
        ("cohorts.0.refresh", "expected PATH=V1,V2"),
        ("fleet.nosuch=1,2", "unknown field `fleet.nosuch`; `fleet` takes instances"),
        ("fleet.instances=10,many", "fleet.instances"),
        ("cohorts.0.refresh=okta,nosuch", "unknown refresh preset 'nosuch'"),
        ("cohorts.0.refresh=@nosuch", "not known for cohorts.0.refresh"),
    ],
)
def test_bad_vary_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, vary: str, message: str
) -> None:
    out = tmp_path / "sweep"
    before = sorted(p.name for p in (ROOT / "results").iterdir())
    result = dcrload_here("compare", SHOOTOUT, "--vary", vary, "--out", str(out), *TINY)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcrload: error: "), result.stderr
    assert message in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in (ROOT / "results").iterdir()) == before


def test_a_folder_that_is_not_a_sweep_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = dcrload_here("compare", SHOOTOUT, "--vary", "cohorts.0.refresh=okta,msal",
                          "--out", str(tmp_path), *TINY)  # fmt: skip
    assert result.returncode == 2
    assert "holds no dcrload compare sweep" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_without_out_the_same_command_finds_its_folder(tmp_path: Path) -> None:
    scenario = str(ROOT / SHOOTOUT)
    args = ["compare", scenario, "--vary", "cohorts.0.refresh=okta,botocore", "--seeds", "2",
            "--jobs", "1", *TINY]  # fmt: skip
    first = dcrload_here(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (folder,) = (tmp_path / "results").iterdir()
    assert re.fullmatch(r"strategy-shootout-compare-[0-9a-f]{10}", folder.name)
    assert f"results: results/{folder.name}" in first.stdout
    reordered = [a.replace("okta,botocore", "botocore,okta") for a in args]
    again = dcrload_here(*reordered, "--seeds", "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert planned(again.stdout) == (4, 2)
    assert [p.name for p in (tmp_path / "results").iterdir()] == [folder.name]


def test_the_shipped_scenario_states_its_question_and_runs() -> None:
    text = (ROOT / SHOOTOUT).read_text()
    assert text.startswith("# Question:")
    assert "dcrload compare scenarios/strategy-shootout.toml" in text
