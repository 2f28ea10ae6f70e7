"""`dcrload capacity`: SLO parsing, the bisection, and a case with a closed-form answer.

The closed-form case: a Poisson stream of token requests (λ = 50/s) to exponential
workers (mean 20 ms), so the queue is M/M/c and P(wait > t) = C(c, a)·exp(-(cμ - λ)t).
The least c whose p99 wait is at most 10 ms is computed here from Erlang C; the command,
run in-process, must return it, within the probe budget of a bisection.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dcrload.analysis.capacity import (
    EXIT_NO_ANSWER,
    Probe,
    parse_axis,
    parse_slo,
    probe_budget,
    search,
)
from dcrload.cli import main
from dcrload.core.errors import UsageError
from dcrload.model.scenario import load_scenario

pytestmark = pytest.mark.xdist_group("capacity")  # module fixtures: once

RATE, MU, BOUND, QUANTILE = 50.0, 50.0, 0.010, 0.99
SCENARIO = """
[scenario]
name = "mmc-capacity"
duration = "120s"
bin = "10s"
seed = 1

[fleet]
instances = 1000

[[cohorts]]
share = 1.0
platform = "mobile"
antipattern = "no_token_cache"

[usage]
sessions_per_day = 4320  # 1000 instances x 4320 / 86400 s = 50 token requests per second
session_length = { dist = "fixed", value = "1ms" }
api_interval = "1h"
diurnal = [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]

[server]
workers = 8
service_time = { dist = "exponential", mean = "20ms" }

[[faults.outages]]
start = "60s"
duration = "10s"
mode = "503"
"""


def erlang_c(c: int, offered: float) -> float:
    below = sum(offered**k / math.factorial(k) for k in range(c))
    top = offered**c / math.factorial(c) * c / (c - offered)
    return top / (below + top)


def least_workers(rate: float, mu: float, bound: float, q: float) -> int:
    """Least c with P(wait > bound) <= 1 - q in M/M/c."""
    c = math.floor(rate / mu) + 1
    while erlang_c(c, rate / mu) * math.exp(-(c * mu - rate) * bound) > 1 - q:
        c += 1
    return c


@pytest.fixture(scope="module")
def search_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, Path]:
    folder = tmp_path_factory.mktemp("capacity")
    scenario = folder / "mmc.toml"
    scenario.write_text(SCENARIO)
    out = folder / "out"
    code = main(["capacity", str(scenario), "--slo", "token.wait.p99<=10ms",
                 "--range", "1..32", "--seeds", "1", "--out", str(out)])  # fmt: skip
    return out, code, scenario


def test_capacity_returns_the_erlang_c_answer_within_a_bisections_probes(
    search_folder: tuple[Path, int, Path],
) -> None:
    out, code, _ = search_folder
    expected = least_workers(RATE, MU, BOUND, QUANTILE)
    assert expected == 4  # c = 3 gives a p99 wait of 22 ms, c = 4 of 4.8 ms
    report = json.loads((out / "capacity.json").read_text())
    assert code == 0
    assert report["answer"] == expected
    probes = report["probes"]
    assert len(probes) <= 2 + math.ceil(math.log2(32 - 1)) == report["probe_budget"]
    assert len({p["value"] for p in probes}) == len(probes), "a value was probed twice"
    below = [p for p in probes if p["value"] == expected - 1]
    assert below and not below[0]["passed"]
    assert report["margin"]["token.wait.p99<=10ms"] > 0
    assert (out / "capacity.png").stat().st_size > 10_000
    assert "server.workers=4 is the least" in (out / "report.html").read_text()


def test_a_second_search_reuses_the_runs_and_no_answer_has_its_own_status(
    search_folder: tuple[Path, int, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """p99 response >= rtt + the service time's p99 (20 + 92 ms): 50 ms is out of reach;
    the top of the range was run by the first search, so nothing runs again."""
    out, _, scenario = search_folder
    code = main(["capacity", str(scenario), "--slo", "token.p99<=50ms", "--range", "1..32",
                 "--seeds", "1", "--out", str(out)])  # fmt: skip
    assert code == EXIT_NO_ANSWER == 3
    report = json.loads((out / "capacity.json").read_text())
    assert report["answer"] is None and report["runs"] == {"simulated": 0, "reused": 1}
    assert "no server.workers in 1..32 meets every SLO" in capsys.readouterr().out


def test_an_error_rate_slo_in_the_outage_window_cannot_be_bought_with_workers(
    search_folder: tuple[Path, int, Path],
) -> None:
    """A 503 outage refuses every request whatever the workers: the windowed error rate is
    about 1 during the outage, well under 0.2 over the whole run."""
    out, _, scenario = search_folder
    during = main(["capacity", str(scenario), "--slo", "token.error_rate<=0.2@outage",
                   "--range", "1..32", "--seeds", "1", "--out", str(out)])  # fmt: skip
    figure = json.loads((out / "capacity.json").read_text())["probes"][0]["slos"]
    assert during == EXIT_NO_ANSWER
    assert figure["token.error_rate<=0.2@outage"]["worst"] > 0.5
    whole = main(["capacity", str(scenario), "--slo", "token.error_rate<=0.2",
                  "--range", "1..32", "--seeds", "1", "--out", str(out)])  # fmt: skip
    assert whole == 0


def test_bisection_finds_the_least_passing_value_in_log_probes() -> None:
    axis = parse_axis("server.workers", "1..1000")
    for answer in (1, 2, 37, 999, 1000):
        seen: list[float] = []

        def passes(value: float, answer: int = answer, seen: list[float] = seen) -> Probe:
            seen.append(value)
            return Probe(value, value >= answer, {}, len(seen))

        found, probes = search(axis, passes)
        assert found == answer and len(probes) <= probe_budget(axis) == 12
    found, _ = search(axis, lambda v: Probe(v, False, {}, 1))
    assert found is None


def test_a_float_axis_where_less_is_more_capacity() -> None:
    axis = parse_axis("server.service_time", "1ms..1s")
    found, probes = search(axis, lambda v: Probe(v, v <= 0.0123, {}, 0))
    assert found is not None and 0.0123 / 1.01 <= found <= 0.0123
    assert len(probes) <= probe_budget(axis)
    scenario = load_scenario(Path(__file__).parent.parent / "scenarios" / "default.toml")
    slower = axis.apply(scenario, 0.05)
    assert slower.server.service_time.mean == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("text", "endpoint", "measure", "metric", "threshold"),
    [
        ("token.p99<=250ms", "token", "response", "p99", 0.25),
        ("register.wait.p95<1s", "register", "wait", "p95", 1.0),
        ("register.error_rate<=0.001@outage+30m", "register", "error_rate", "error_rate", 0.001),
        ("workers.utilisation<=0.7@18h..20h", "workers", "utilisation", "utilisation", 0.7),
    ],
)
def test_slo_texts(text: str, endpoint: str, measure: str, metric: str, threshold: float) -> None:
    slo = parse_slo(text)
    assert (slo.endpoint, slo.measure, slo.metric) == (endpoint, measure, metric)
    assert slo.threshold == pytest.approx(threshold)


def test_slo_windows_cover_the_fault_and_the_span_after_it() -> None:
    scenario = load_scenario(Path(__file__).parent.parent / "scenarios" / "outage-recovery.toml")
    slo = parse_slo("token.p99<=250ms@outage+30m")
    (outage,) = scenario.faults.outages
    ((start, end),) = slo.window.spans(scenario)
    assert (start, end) == (outage.start, outage.start + outage.duration + 1800)
    width = scenario.scenario.bin
    bins = slo.window.bins(scenario)
    assert bins[0] == int(start // width) and bins[-1] == math.ceil(end / width) - 1


@pytest.mark.parametrize(
    "bad",
    ["token.p99", "token.p42<=1s", "api.p99<=1s", "token.p99<=fast", "token.error_rate<=2",
     "token.p99<=1s@lunch", "token.p99<=1s@2h..1h", "workers.p99<=1s"],
)  # fmt: skip
def test_bad_slos_are_one_clear_line(bad: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_slo(bad)
    assert "\n" not in str(error.value) and bad in str(error.value)


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    for argv in (["--slo", "token.p99<=1s", "--over", "fleet.instances"],
                 ["--slo", "token.p99<=1s", "--range", "5..2"],
                 ["--slo", "token.p99<=1s@revocation"],
                 ["--slo", "nonsense"]):  # fmt: skip
        assert main(["capacity", str(scenario), *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("dcrload: error:") and err.count("\n") == 1
