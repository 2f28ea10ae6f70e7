"""Every benchmark at its smoke size (`python -m bench NAME --tiny`), so none breaks unseen.

No figure is judged here (timing belongs in bench/, never in a test): each run must exit 0
and write a result with both sides, the machine, the date, the load average and a table.
The overload benchmark's smoke run is tests/test_mock_shed.py's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("bench_smoke")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent


def bench(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args, "--out", str(tmp)], cwd=ROOT,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    done = bench(out, "sim", "scale", "mock", "locust", "--tiny")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return out


@pytest.mark.parametrize(
    ("name", "sides"),
    [
        ("sim", ("dcrload", "raw_simpy", "ratio_dcrload_to_raw_simpy")),
        (
            "scale",
            (
                "runs",
                "raw_simpy",
                "ratio_cpu_per_instance_day_largest_to_smallest",
                "marginal",
                "ratio_marginal_largest_to_smallest",
                "fixed_cpu_s",
            ),
        ),
        (
            "mock",
            (
                "targets",
                "ratios",
                "ratio_token_to_bare",
                "ratio_api_to_bare",
                "ratio_token_to_independent",
                "independent_load",
            ),
        ),
        ("locust", ("lifecycle_api_rps", "plain_api_rps", "ratio")),
    ],
)
def test_each_benchmark_writes_both_sides_and_its_context(
    results: Path, name: str, sides: tuple[str, ...]
) -> None:
    data = json.loads((results / f"{name}.json").read_text())
    for key in (*sides, "machine", "when", "load_average", "table"):
        assert key in data, key
    assert len(data["load_average"]["before"]) == 3
    assert len(data["table"]) >= 3  # header, rule, a row


def test_the_scale_bench_measures_a_sample_and_normalises(results: Path) -> None:
    runs = json.loads((results / "scale.json").read_text())["runs"]
    assert [r["sample"] for r in runs] == [1.0, 1.0, 0.25]
    assert all(r["events_per_instance_day"] > 0 and r["normalised"] > 0 for r in runs)
    # each run says whether the plain day ran compiled (setup.py), as the suite's does
    assert {r["compiled"] for r in runs} == {os.environ.get("DCRLOAD_PURE") != "1"}


def test_the_mock_bench_measures_every_side_with_the_right_answers(results: Path) -> None:
    data = json.loads((results / "mock.json").read_text())
    targets = data["targets"]
    shape = data["independent_load"]  # the independent server is measured at its best shape
    best = max(shape["tried"], key=lambda tried: tried["requests_per_second"])
    assert len(shape["tried"]) == 4 and best["requests_per_second"] > 0
    assert (best["connections"], best["pipeline"]) == (
        shape["connections_per_generator"],
        shape["pipeline"],
    )
    expected = {"token": "201", "api": "200", "bare-asgi": "201", "bare-token": "201",
                "bare-api": "200", "independent": "200"}  # fmt: skip
    assert set(targets) == set(expected)
    for side, status in expected.items():
        (statuses,) = targets[side]["statuses"]  # one round at the tiny size
        assert set(statuses) == {status}, (side, statuses)  # no error measured as a rate
        assert targets[side]["requests_per_second"] > 0
        assert targets[side]["server_cpu_us_per_request"]["median"] > 0


def test_mock_bench_url_is_loopback_only(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "bench/bench_mock.py", "--url", "http://10.1.2.3:80/x", "--seconds",
         "0.1", "--out", str(tmp_path / "m.json")], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "loopback only" in done.stderr
    assert not (tmp_path / "m.json").exists()


def test_unknown_benchmark_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "nope"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_the_scale_bench_splits_a_runs_cost_into_fixed_and_per_instance() -> None:
    """Runs costing exactly 0.5 CPU-s plus 60 µs per instance-day, then 50 µs past 100k:
    the marginal steps and the fixed cost are those numbers (a straight-line calculation)."""
    sys.path.insert(0, str(ROOT))
    from bench.bench_scale import fixed_cost, marginal, marginal_ratio

    def cpu(n: int) -> float:
        return 0.5 + 60e-6 * min(n, 100_000) + 50e-6 * max(0, n - 100_000)

    runs = [{"instances": n, "cpu_s": cpu(n)} for n in (10_000, 100_000, 1_000_000)]
    steps = marginal(runs, days=1.0)
    assert [step["cpu_us_per_instance_day"] for step in steps] == [60.0, 50.0]
    assert fixed_cost(runs, days=1.0) == 0.5
    assert marginal_ratio(steps) == round(50 / 60, 3)
    assert marginal_ratio(steps[:1]) is None  # one step: nothing to compare it with
    # tiny fleets whose CPU rounds to the same figure: no ratio, not a division by zero
    flat = marginal([{"instances": n, "cpu_s": 0.3} for n in (100, 200, 400)], days=1 / 24)
    assert marginal_ratio(flat) is None
    assert fixed_cost(runs[:1], days=1.0) is None  # one size: no line to draw
    two_days = [{"instances": n, "cpu_s": 0.5 + 2 * 60e-6 * n} for n in (1_000, 5_000)]
    assert fixed_cost(two_days, days=2.0) == 0.5
