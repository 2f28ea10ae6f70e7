"""Bad input at the command line: one line, exit 2, within seconds — never a traceback or a
hang (issue 11.3).

Every input the issue found crashing or hanging is replayed through the command line's
`main()` in this process (fast: each is refused before any work starts); the FIFO goes
through a subprocess, since a blocked `open` could not be interrupted here. A property test
then generates scenario files and overrides and runs what validates on small fleets.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from generated import suite_settings
from hypothesis import event, given
from hypothesis import strategies as st

from dcrload.cli import main
from dcrload.core.durations import parse_duration
from dcrload.core.errors import UsageError
from dcrload.model import estimate as estimate_module
from dcrload.model.estimate import check_budget, estimate
from dcrload.model.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SMALL = str(ROOT / "tests" / "scenarios" / "loadtest-small.toml")
DEFAULT = str(ROOT / "scenarios" / "default.toml")
REFUSED_WITHIN = 5.0
"""Seconds a refusal may take, parsing and validation included."""


@pytest.fixture(autouse=True)
def _signals() -> Iterator[None]:
    """`main()` installs its stop handlers; put the test process's own back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def run_main(*args: str) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds) of `dcrload ARGS` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue(), time.monotonic() - started


def assert_refused(args: list[str], *words: str) -> str:
    """Exit 2, one line on stderr naming `words`, nothing on stdout, within seconds."""
    status, stdout, stderr, took = run_main(*args)
    assert status == 2, (status, stdout[-500:], stderr[-2000:])
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dcrload: error: "), stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert took < REFUSED_WITHIN, f"took {took:.1f} s"
    return lines[0]


NESTED = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["token.ttl=[1]"], ["token.ttl", "duration"]),
        (["scenario.duration=inf"], ["scenario.duration", "finite"]),
        (["scenario.duration=nan"], ["scenario.duration", "finite"]),
        (["scenario.bin=inf"], ["scenario.bin", "finite"]),
        (["scenario.bin=1e-9"], ["scenario.bin", "1"]),
        (["scenario.duration=1e300"], ["scenario.duration", "at most"]),
        (["scenario.duration=1e11", "scenario.bin=1s"], ["scenario.bin", "bins"]),
        (["faults.clock.steps_per_day=5e-324"], ["steps_per_day", "rate"]),
        (["server.workers=384975758"], ["server.workers"]),
        (["fleet.instances=1000000000000"], ["memory", "1,000,000,00", "instances"]),
        (["faults.reinstall_per_day=1e8"], ["events", "faults"]),
        (["faults.clock.skew_ppm_sd=9223372036854775808"], ["skew_ppm_sd"]),
        (["faults.clock.skew_ppm_sd=inf"], ["skew_ppm_sd"]),
        (["fleet.installs.kind=constant", "fleet.installs.per_day=1e30"], ["memory", "installs"]),
        (["usage.api_interval=1ms"], ["events", "usage.api_interval"]),
        (["usage.api_interval=0.1ms"], ["usage.api_interval", "0.001"]),
        (["usage.diurnal=[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,inf]"], ["finite"]),
        (["usage.session_length={dist='lognormal', median='25m', sigma=inf}"], ["finite"]),
        (["cohorts.0.refresh={kind='fixed_lead', lead=nan}"], ["cohorts.0.refresh"]),
        (["token.ttl=1e999"], ["token.ttl", "finite"]),
        ([f"fleet.instances={NESTED}"], ["nested"]),
        (["fleet.instances=" + "9" * 20_000], ["characters"]),
        (["token.ttl=10s"], ["events", "token refreshes"]),
    ],
)
def test_each_bad_scenario_value_is_one_line_and_exit_2(
    overrides: list[str], words: list[str], tmp_path: Path
) -> None:
    args = ["simulate", DEFAULT, "--out", str(tmp_path / "out")]
    for override in overrides:
        args += ["--set", override]
    assert_refused(args, *words)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'[scenario]\nname = "x\xff"\n', ["not UTF-8", "0xff"]),
        (b"x = " + NESTED.encode() + b"\n", ["nested"]),
        (b"[" * 1000, ["TOML"]),
        (b"\x00\x01\x02", ["TOML"]),
        (b"[scenario]\nduration = inf\n", ["scenario.duration", "finite"]),
        (b"[scenario]\nbin = nan\n", ["scenario.bin", "finite"]),
        (b"[loadtest]\ntime_scale = inf\n", ["loadtest.time_scale"]),
    ],
)
def test_each_bad_scenario_file_is_one_line_and_exit_2(
    content: bytes, words: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    assert_refused(["simulate", str(path), "--out", str(tmp_path / "out")], str(path), *words)


def test_a_device_and_a_huge_file_are_refused(tmp_path: Path) -> None:
    assert_refused(["simulate", "/dev/zero"], "not a regular file")
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * 2_000_000 + b"\n")
    assert_refused(["simulate", str(big)], "bytes, more than")


def test_a_fifo_as_the_scenario_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "scenario.toml"
    os.mkfifo(fifo)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "dcrload", "simulate", str(fifo)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.strip()
        == f"dcrload: error: {fifo}: not a regular file, expected a scenario file"
    )
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--duration", "inf"], ["--duration", "finite"]),
        (["--duration", "nan"], ["--duration", "finite"]),
        (["--duration", "1e400"], ["--duration", "finite"]),
        (["--duration", "30d"], ["--duration", "at most"]),
        (["--time-scale", "inf"], ["--time-scale", "finite"]),
        (["--time-scale", "nan"], ["--time-scale", "finite"]),
        (["--time-scale", "1e-9"], ["loadtest.time_scale"]),
        (["--mock-latency-ms", "nan"], ["--mock-latency-ms"]),
        (["--mock-throttle-rate", "inf"], ["--mock-throttle-rate"]),
        (["--workers", "100000"], ["--workers"]),
        (["--set", "loadtest.max_instances=100000000000"], ["memory"]),
    ],
)
def test_each_bad_load_test_flag_is_one_line_and_exit_2(
    flags: list[str], words: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    args = ["loadtest", SMALL, "--target", "mock", "--out", str(out), *flags]
    if "--set" in flags:
        args += ["--set", "fleet.instances=100000000000"]
    assert_refused(args, *words)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_bad_vary_value_is_one_line_and_exit_2(tmp_path: Path) -> None:
    shootout = str(ROOT / "scenarios" / "strategy-shootout.toml")
    args = ["compare", shootout, "--vary", "token.ttl=1h,inf", "--out", str(tmp_path / "s")]
    assert_refused(args, "token.ttl=inf", "finite")
    args = ["compare", shootout, "--vary", "fleet.instances=100,1000000000000"]
    assert_refused(args, "fleet.instances=1000000000000", "memory")


def test_parse_duration_refuses_what_is_not_a_finite_duration() -> None:
    for bad in ("inf", "-inf", "nan", "1e999", [1], {"a": 1}, None, True, 10**400):
        with pytest.raises(ValueError):
            parse_duration(bad)  # type: ignore[arg-type]
    assert parse_duration("1h30m") == 5400.0 and parse_duration(-2) == -2.0


@pytest.mark.parametrize(
    "overrides",
    [
        ["cohorts=[{name='s', share=1.0, platform='server', retry={kind='exponential', "
         "attempts=5000, cap='1s', base='1ms'}}]", "faults.outages=[{start='10m', duration='1h'}]"],
        ["usage.sessions_per_day=0.01", "faults.clock.skew_ppm_sd=100000"],
        ["usage.session_length={dist='lognormal', median='1s', sigma=10}"],
        ["faults.clock.steps_per_day=1e-9", "faults.clock.offset={dist='normal', sd=1e12}",
         "cohorts.0.expiry_basis='exp'"],
    ],
)  # fmt: skip
def test_extreme_but_valid_values_simulate(overrides: list[str]) -> None:
    """At the edge of every limit the simulation still runs (no overflow, no hang)."""
    from sim.fleet import simulate

    base = ["fleet.instances=5", "scenario.duration=2h", "fleet.installs.kind=none"]
    result = simulate(load_scenario(DEFAULT, base + overrides))
    assert result.duration == 7200.0


# --------------------------------------------------------------------------- the estimate


@pytest.mark.parametrize(
    ("scenario", "overrides"),
    [
        ("scenarios/strategy-shootout.toml", ["fleet.instances=300"]),
        ("scenarios/anti-patterns.toml", ["fleet.instances=300"]),
        ("scenarios/default.toml", ["fleet.instances=300", "scenario.duration=1d"]),
        ("scenarios/default.toml", ["fleet.instances=5", "scenario.duration=1h", "token.ttl=1m"]),
    ],
)
def test_the_estimate_is_within_a_factor_of_three_of_the_engine(
    scenario: str, overrides: list[str]
) -> None:
    from sim.fleet import simulate

    loaded = load_scenario(ROOT / scenario, overrides)
    guess = estimate(loaded).events
    counted = simulate(loaded).events
    assert counted / 3 <= guess <= counted * 3, (guess, counted)


def test_the_budget_names_the_limit_it_would_break() -> None:
    scenario = load_scenario(ROOT / "scenarios/default.toml")
    found = check_budget(scenario, "x")  # the shipped default fits any machine
    assert 0 < found.memory_bytes < 2**30 and 0 < found.events < 1e7
    with pytest.raises(UsageError, match=r"x: this run needs about .* of memory"):
        check_budget(scenario, "x", memory=1_000_000)
    big = load_scenario(ROOT / "scenarios/default.toml", ["fleet.instances=10000000"], budget=False)
    assert estimate(big).memory_bytes == pytest.approx(10_000_000 * 2500, rel=0.01)


# --------------------------------------------------------------------------- property


PATHS = [
    "scenario.duration", "scenario.bin", "scenario.seed", "fleet.instances", "fleet.start",
    "fleet.launch_spread", "fleet.churn_per_day", "fleet.installs.kind",
    "fleet.installs.per_day", "fleet.installs.total", "fleet.installs.peak_at",
    "fleet.installs.width", "cohorts.0.share", "cohorts.0.platform", "cohorts.0.refresh",
    "cohorts.0.retry", "cohorts.0.antipattern", "cohorts.0.expiry_basis",
    "usage.sessions_per_day", "usage.session_length", "usage.api_interval", "usage.diurnal",
    "token.ttl", "token.ttl_jitter", "faults.credential_loss_per_day",
    "faults.reinstall_per_day", "faults.clock.offset", "faults.clock.wild_fraction",
    "faults.clock.skew_ppm_sd", "faults.clock.steps_per_day", "faults.outages",
    "faults.revocations", "server.workers", "server.service_time", "server.timeout",
    "server.network_rtt", "server.throttle", "loadtest.time_scale",
]  # fmt: skip

HOSTILE = [
    "inf", "-inf", "nan", "0", "-1", "1e-9", "1e308", "1e999", "9223372036854775807",
    "18446744073709551616", "true", "[]", "[1]", '""', '"1ms"', '"0s"', '"inf"', '"-5m"',
    '"1d"', '"6h"', "{}", '{dist = "lognormal", median = "1s", sigma = 50}',
    '{dist = "fixed", value = "1ms"}', '{kind = "fixed_lead", lead = "1d"}',
    '{kind = "immediate", attempts = 1000000}', '{kind = "exponential", attempts = 5000}',
    '[{start = "1h", duration = "1e9s"}]', '[{at = "-1s"}]', "mobile", "tv", "server",
    "launch", "constant", "cold", "reregister_on_refresh", "unbounded_401_loop",
    "{enabled = true, rate = 1e-300}", "[" * 40 + "]" * 40,
]  # fmt: skip

NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda x: (
            "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf") if math.isinf(x) else repr(x)
        )
    ),
    st.tuples(st.floats(0, 1e6, allow_nan=False), st.sampled_from(["ms", "s", "m", "h", "d"])).map(
        lambda pair: f'"{pair[0]:g}{pair[1]}"'
    ),
)
PLAUSIBLE = st.one_of(
    st.integers(0, 60).map(str),
    st.floats(0, 5, allow_nan=False).map(repr),
    st.tuples(st.integers(1, 48), st.sampled_from(["s", "m", "h"])).map(
        lambda pair: f'"{pair[0]}{pair[1]}"'
    ),
)
"""Values a scenario could really hold, so that many generated scenarios run."""
VALUE = st.one_of(st.sampled_from(HOSTILE), NUMBER, st.text(max_size=12), PLAUSIBLE, PLAUSIBLE)
OVERRIDE = st.tuples(st.sampled_from(PATHS), VALUE).map(lambda pair: f"{pair[0]}={pair[1]}")
PLAUSIBLE_OVERRIDE = st.tuples(st.sampled_from(PATHS), PLAUSIBLE).map(
    lambda pair: f"{pair[0]}={pair[1]}"
)


BASE = """\
[scenario]
name = "fuzz"
duration = "6h"
bin = "10m"
[fleet]
instances = 12
[[cohorts]]
name = "app"
share = 1.0
[server]
throttle = { enabled = true, rate = 1.0, burst = 10 }
[[faults.outages]]
start = "1h"
duration = "20m"
"""

RUN_LIMIT = 20.0
"""Seconds one generated scenario may take to be refused or simulated (a hang fails)."""


class Hang(Exception):
    """A generated input ran past RUN_LIMIT."""


def _alarm(signum: int, frame: object) -> None:
    raise Hang


FUZZ = suite_settings("DCRLOAD_FUZZ_EXAMPLES", 60)  # the suite: the same cases


@FUZZ
@given(
    overrides=st.lists(OVERRIDE, max_size=4),
    garbage=st.one_of(
        st.none(), st.none(), st.none(), st.binary(max_size=40), st.text(max_size=40)
    ),
)
def test_generated_scenarios_run_or_are_refused_in_one_line(
    overrides: list[str], garbage: bytes | str | None
) -> None:
    """Whatever the file and the `--set` values: a UsageError of one line, or a simulation
    that finishes within RUN_LIMIT — never another exception, never a hang."""
    check_runs_or_refuses(overrides, garbage)


@FUZZ
@given(overrides=st.lists(PLAUSIBLE_OVERRIDE, max_size=3))
def test_plausible_scenarios_run_or_are_refused_in_one_line(overrides: list[str]) -> None:
    """The same with values a scenario could hold, so that most of them simulate."""
    check_runs_or_refuses(overrides, None)


def check_runs_or_refuses(overrides: list[str], garbage: bytes | str | None) -> None:
    """Load the base scenario (plus `garbage`) with `overrides`; simulate what validates.

    The event budget is lowered to what a small fleet can simulate in a few seconds here,
    so this also checks that the estimate never lets through a run far bigger than it said.
    """
    from dcrload.results.summary import summary_of
    from sim.fleet import simulate

    folder = Path(tempfile.mkdtemp(prefix="dcrload-fuzz-"))
    path = folder / "fuzz.toml"
    content = BASE.encode()
    if isinstance(garbage, bytes):
        content += garbage
    elif isinstance(garbage, str):
        content += garbage.encode("utf-8", "surrogatepass")
    path.write_bytes(content)
    previous = signal.signal(signal.SIGALRM, _alarm)
    budget = estimate_module.MAX_EVENTS
    estimate_module.MAX_EVENTS = 10_000
    signal.setitimer(signal.ITIMER_REAL, RUN_LIMIT)
    try:
        try:
            scenario = load_scenario(path, overrides)
        except UsageError as error:
            assert "\n" not in str(error) and str(error), repr(error)
            event("refused")
            return
        summary_of(simulate(scenario))
        event("simulated")
    except Hang:
        pytest.fail(f"no answer within {RUN_LIMIT} s: {overrides} {garbage!r}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        estimate_module.MAX_EVENTS = budget
        shutil.rmtree(folder, ignore_errors=True)


@suite_settings("DCRLOAD_FUZZ_EXAMPLES", 15)
@given(overrides=st.lists(st.one_of(OVERRIDE, PLAUSIBLE_OVERRIDE), max_size=2))
def test_the_command_line_runs_or_refuses_generated_overrides(overrides: list[str]) -> None:
    """Through `main()`, result files and report included: exit 0, or exit 2 with one line."""
    folder = Path(tempfile.mkdtemp(prefix="dcrload-cli-fuzz-"))
    base = folder / "fuzz.toml"
    base.write_text(BASE)
    args = ["simulate", str(base), "--out", str(folder / "out")]
    for override in overrides:
        args += ["--set", override]
    previous = signal.signal(signal.SIGALRM, _alarm)
    budget = estimate_module.MAX_EVENTS
    estimate_module.MAX_EVENTS = 10_000
    signal.setitimer(signal.ITIMER_REAL, RUN_LIMIT)
    try:
        status, _, stderr, _ = run_main(*args)
    except Hang:
        pytest.fail(f"no answer within {RUN_LIMIT} s: {overrides}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        estimate_module.MAX_EVENTS = budget
        shutil.rmtree(folder, ignore_errors=True)
    assert status in (0, 2), (status, stderr)
    if status == 2:
        assert len(stderr.strip().splitlines()) == 1, stderr
        event("refused")
    else:
        event("simulated")
