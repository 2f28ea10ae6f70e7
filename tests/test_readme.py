"""The README's and the docs' promises: every command they show is run, their figures hold.

Commands are read out of the fenced code blocks of README.md and docs/*.md (a synopsis,
with `[optional]` parts or `A|B` choices, is usage, not a command). Each must be one of the
commands listed below, and each list is run here, at a small size where `--set` allows it,
or by the test named beside it. An output line shown after a `$ command` must be what the
command prints. The walkthrough (statement → mock → probe → locust → loadtest against the
URL) runs in the order the docs give it, on loopback. The servers and Locust are
subprocesses; the `dcrload` commands run in this process (`dcrload_here`), from the folder
the docs run them in.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_runner import dcrload_here
from listening import start_listening

from dcrload.commandline.processes import free_port, reap
from dcrload.model.reference import REFERENCE, generated

pytestmark = pytest.mark.xdist_group("readme")  # module fixtures: once

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = {p.name: p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))}
FIRST = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dcrload simulate"
TESTS = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/pytest'
SMALL = ["--set", "fleet.instances=100", "--set", "scenario.duration=6h"]
TINY = ["--set", "fleet.instances=10", "--set", "scenario.duration=1h", "--jobs", "1"]
OTHER_BRANCHES = {"mock.md", "rfc7591.md"}
"""Pages other helpers write (docs/mock.md: the mock branch); linked before they land."""

SIMULATE = [
    "dcrload simulate scenarios/outage-recovery.toml --set fleet.instances=5000",
    "dcrload simulate --set cohorts.tv.expiry_basis=expires_in",
    "dcrload simulate --set cohorts.mobile.refresh=oauthlib",
    "dcrload simulate --set token.ttl=1h",
    "dcrload simulate --set faults.clock.wild_fraction=0",
]
COMPARE = [
    "dcrload compare scenarios/strategy-shootout.toml --vary cohorts.0.refresh=@presets --seeds 3",
    "dcrload compare scenarios/strategy-shootout.toml --vary cohorts.0.refresh=okta,botocore"
    " --seeds 2",
    "dcrload compare scenarios/strategy-shootout.toml --vary cohorts.0.refresh=okta,botocore"
    " --vary cohorts.0.expiry_basis=exp,expires_in --seeds 2",
]
CAPACITY = [
    "dcrload capacity scenarios/capacity-launch.toml --slo 'token.p99<=250ms@outage+30m'"
    " --slo 'register.error_rate<=0.001@4h..8h' --set fleet.instances=500"
    " --set fleet.installs.total=2000 --range 1..64 --seeds 2",
]
ERRORS = ["dcrload simulate --set fleet.instanses=1000"]
WALKTHROUGH = [
    "dcrload statement --out keys",
    "DCRLOAD_ADMIN_KEY=KEY dcrload mock --port 8000 --scenario scenarios/default.toml --keys keys",
    "dcrload probe --target http://127.0.0.1:8000 --software-statement keys/dcrload-demo.jwt",
    "DCRLOAD_ADMIN_KEY=KEY locust -f loadtests/locustfile.py --web-host 127.0.0.1 --scenario"
    " scenarios/default.toml --host http://127.0.0.1:8000 --dcr-statements keys",
    "dcrload loadtest scenarios/default.toml --target http://127.0.0.1:8000"
    " --software-statement keys/dcrload-demo.jwt --duration 30s",
]
RFC7591_WALKTHROUGH = [
    "python tests/reference_server/server.py --port 8100 --statement-key keys",
    "dcrload probe --target http://127.0.0.1:8100 --software-statement keys/dcrload-demo.jwt"
    " --profile rfc7591",
]
"""docs/rfc7591.md (the rfc7591 branch): after `dcrload statement --out keys`, the probe
against the Authlib reference server; run below when the page is there."""
ELSEWHERE = {
    FIRST: "tests/test_simulate_cli.py::test_readme_command_leaves_its_files",
    TESTS: "tests/test_readme.py::test_ci_runs_exactly_the_readme_test_command (CI runs it)",
    "dcrload loadtest scenarios/default.toml --target mock --duration 30s":
        "tests/test_locust_replay.py::test_the_prediction_check_passes_on_the_mock",
    "locust -f loadtests/locustfile.py --master --expect-workers 4 --headless --web-host"
    " 127.0.0.1 --scenario scenarios/default.toml --host http://service:8000 --dcr-statements"
    " keys --dcr-admin-key KEY --dcr-out results/run1 --csv results/run1/locust":
        "tests/test_locust_replay.py::test_two_workers_play_each_instance_once",
    "locust -f loadtests/locustfile.py --worker --master-host A":
        "tests/test_locust_replay.py::test_two_workers_play_each_instance_once",
    ".venv/bin/ruff check . && .venv/bin/ruff format --check .": "CI's lint step",
    "python tests/reference_server/server.py --port 8100 --statement-key keys":
        "tests/test_probe.py::test_the_commands_docs_rfc7591_shows",
    "dcrload probe --target http://127.0.0.1:8100 --software-statement keys/dcrload-demo.jwt"
    " --profile rfc7591": "tests/test_probe.py::test_the_commands_docs_rfc7591_shows",
    "dcrload compare scenarios/default.toml --vary token.ttl=1h,6h,24h --seeds 5 --dask"
    " tcp://10.0.0.5:8786": "tests/test_scale.py::test_compare_on_a_dask_cluster_is_the_local_run"
    " (on a loopback cluster)",
    "dcrload simulate --set fleet.instances=5000000 --set scenario.duration=1d --jobs 8 --dask"
    " tcp://10.0.0.5:8786": "tests/test_scale.py::test_shards_on_a_dask_cluster_are_the_local_run"
    " (on a loopback cluster, a small fleet)",
    "dcrload simulate --set fleet.instances=1000000 --set scenario.duration=1d --jobs 2":
        "tests/test_scale.py::test_simulate_jobs_and_sample_write_the_intervals (a small fleet;"
    " the million-instance day is bench/bench_scale.py's)",
    "dcrload simulate --set fleet.instances=10000000 --set scenario.duration=1d --sample 0.01"
    " --jobs 2": "tests/test_scale.py::test_simulate_jobs_and_sample_write_the_intervals (a"
    " small fleet; the ten-million day is bench/bench_scale.py's)",
    ".venv/bin/python -m dcrload.model.reference --write":
        "tests/test_readme.py::test_scenario_reference_is_generated_from_the_schema",
}  # fmt: skip


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```[a-z]*\n(.*?)\n```", text, flags=re.S)


def shown_commands(text: str) -> list[str]:
    """The commands of a page's code blocks: continuations joined, comments and prompts
    dropped, synopses (`[...]`, `A|B`) left out."""
    commands = []
    for block in code_blocks(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("  #")[0].strip().removeprefix("$ ")
            if not re.sub(r"^([A-Z_]+=\S* )+", "", line).startswith(
                ("dcrload ", "locust ", "python", ".venv/bin/")
            ):
                continue
            if re.search(r"\[[^\]]*\]|\w\|\w", line.replace("[test]", "")):
                continue  # a synopsis: usage, not a command
            commands.append(" ".join(line.split()))
    return commands


ALL_SHOWN = sorted({c for text in [README, *DOCS.values()] for c in shown_commands(text)})


def test_every_shown_command_is_run_by_the_suite() -> None:
    pages = {*SIMULATE, *COMPARE, *CAPACITY, *ERRORS, *WALKTHROUGH, *ELSEWHERE}
    known = pages | set(RFC7591_WALKTHROUGH)
    assert [c for c in ALL_SHOWN if c not in known] == [], "a new command: run it in a test"
    assert [c for c in pages if c not in ALL_SHOWN] == [], "a command no page shows any more"
    if "rfc7591.md" in DOCS:
        assert [c for c in RFC7591_WALKTHROUGH if c not in ALL_SHOWN] == []
    for where in ELSEWHERE.values():
        if where.startswith("tests/"):
            path, name = where.split(" ")[0].split("::")
            assert f"def {name}(" in (ROOT / path).read_text(), where


def test_the_readme_is_short_and_its_links_resolve() -> None:
    assert len(README.splitlines()) <= 200
    for text in [README, *DOCS.values()]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
            if target.startswith("http") or Path(target).name in OTHER_BRANCHES:
                continue
            base = ROOT if text is README else ROOT / "docs"
            assert (base / target).exists(), target


def test_the_two_set_up_commands_are_in_the_readme() -> None:
    blocks = code_blocks(README)
    assert FIRST in blocks
    assert TESTS in blocks


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in script if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == [TESTS]


def test_scenario_reference_is_generated_from_the_schema() -> None:
    assert (ROOT / REFERENCE).read_text() == generated(ROOT / "scenarios"), (
        "run: python -m dcrload.model.reference --write"
    )


def test_the_reference_covers_what_was_missing() -> None:
    from dcrload.model.reference import PRESETS  # wherever the presets live, the page's source

    page = DOCS["scenarios.md"]
    for field in ("software_id", "released_at", "curve", "half_life", "width", "final_share"):
        assert f"`faults.revocations[].rollout.{field}`" in page
    assert "| `kind` | parameters |" in page and "`full_jitter`" in page  # the retry table
    assert "parameters take durations" in page
    assert "cohorts.tv.refresh=msal" in page
    for name in PRESETS:
        assert f"`{name}`" in page
    for scenario in sorted((ROOT / "scenarios").glob("*.toml")):
        assert f"`{scenario.name}`" in page, scenario.name


def test_the_readmes_facts_about_the_default_scenario_hold() -> None:
    from dcrload.model.loadshape import loadtest_scenario
    from dcrload.model.scenario import load_scenario

    scenario = load_scenario(ROOT / "scenarios" / "default.toml")
    assert "20,000 apps over two days, 60 % mobile,\n40 % TV" in README
    assert scenario.fleet.instances == 20_000 and scenario.scenario.duration == 2 * 86400
    assert [(c.share, c.platform) for c in scenario.cohorts] == [(0.6, "mobile"), (0.4, "tv")]
    assert "20,000 instances become 200, and 30 s at 240× is 2 simulated hours" in DOCS[
        "loadtests.md"
    ].replace("\n", " ")
    scaled = loadtest_scenario(scenario, 30.0)
    assert scaled.fleet.instances == 200 and scaled.scenario.duration == 2 * 3600


def test_every_locust_example_binds_the_web_ui_to_loopback() -> None:
    for command in ALL_SHOWN:
        if command.startswith("locust ") and "--worker" not in command:
            assert "--web-host 127.0.0.1" in command, command


def test_no_unchecked_figure_in_prose() -> None:
    """A figure in prose is checked by a run here or dated "measured on"; these claims were
    found false and must not come back."""
    for text in [README, *DOCS.values()]:
        for claim in ("about ten seconds", "a few minutes on two cores", "six times the token load",
                      "401s appear", 'under "dcrload"'):  # fmt: skip
            assert claim not in text, claim


# ------------------------------------------------------------------ running them


def split_env(command: str) -> tuple[dict[str, str], list[str]]:
    """(the `NAME=value` assignments a shown command starts with, the rest of its words)."""
    words = shlex.split(command)
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


def argv(command: str) -> list[str]:
    words = split_env(command)[1]
    assert words[0] == "dcrload"
    return words[1:]


def run_in_process(command: str, out: Path, *extra: str) -> dict[str, object]:
    """Run a shown `dcrload` command in this process (no interpreter start-up per command)."""
    from dcrload.cli import main

    assert main([*argv(command), *extra, "--out", str(out)]) == 0, command
    summary = out / "summary.json"
    return json.loads(summary.read_text()) if summary.exists() else {}


def test_simulate_examples_run(tmp_path: Path) -> None:
    token = {}
    for index, command in enumerate(SIMULATE):
        summary = run_in_process(command, tmp_path / f"run{index}", *SMALL)
        assert (tmp_path / f"run{index}" / "report.html").is_file()
        token[command] = summary["endpoints"]["token"]["requests"]  # type: ignore[index]
    # the docs say: shorter tokens, more token requests (against the same fleet at 6 h)
    base = run_in_process("dcrload simulate", tmp_path / "base", *SMALL)
    assert token["dcrload simulate --set token.ttl=1h"] > base["endpoints"]["token"]["requests"]  # type: ignore[index]


def test_compare_examples_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for index, command in enumerate(COMPARE):
        run_in_process(command, tmp_path / f"sweep{index}", *TINY)
        printed = capsys.readouterr().out
        assert "Recommended" in printed or "No variant" in printed, printed
        assert (tmp_path / f"sweep{index}" / "report.html").is_file()


def test_capacity_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """At a tiny size (later --set and --range win); the verdict line the docs show is dated."""
    tiny = ["--set", "fleet.instances=40", "--set", "fleet.installs.total=120",
            "--range", "1..4", "--seeds", "1"]  # fmt: skip
    for index, command in enumerate(CAPACITY):
        run_in_process(command, tmp_path / f"capacity{index}", *tiny)
        assert "is the least that meets every SLO" in capsys.readouterr().out
        assert (tmp_path / f"capacity{index}" / "capacity.png").is_file()


def test_error_examples_print_what_the_docs_show(tmp_path: Path) -> None:
    for command in ERRORS:
        shown = [
            text.split(f"$ {command}\n", 1)[1].splitlines()[0]
            for text in [README, *DOCS.values()]
            if f"$ {command}\n" in text
        ]
        assert shown, command
        done = dcrload_here(*argv(command), "--out", str(tmp_path / "never"))
        assert done.returncode == 2
        assert all(done.stderr == line + "\n" for line in shown), done.stderr


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """The statement and mock steps, run as shown (port 8000 swapped for a free one) from a
    fresh folder that sees the repository's scenarios and locustfile."""
    folder = tmp_path_factory.mktemp("walkthrough")
    for name in ("scenarios", "loadtests"):
        (folder / name).symlink_to(ROOT / name)
    done = dcrload_here(*argv(WALKTHROUGH[0]), cwd=folder)
    assert done.returncode == 0, done.stderr
    port = free_port()
    _, mock, _ = start_listening(
        [sys.executable, "-m", "dcrload", *argv(WALKTHROUGH[1].replace("8000", str(port)))],
        "dcrload mock listening on ",
        env={**os.environ, **split_env(WALKTHROUGH[1])[0]},
        stop=reap,
        cwd=folder,
        timeout=30,
    )
    try:
        yield folder, port
    finally:
        reap(mock)


def test_walkthrough_probe_passes(walkthrough: tuple[Path, int]) -> None:
    folder, port = walkthrough
    done = dcrload_here(*argv(WALKTHROUGH[2].replace("8000", str(port))), cwd=folder)
    assert done.returncode == 0, done.stdout + done.stderr


def test_walkthrough_locust_serves_the_default_scenario(walkthrough: tuple[Path, int]) -> None:
    """Followed in order, the keys folder serves `scenarios/default.toml` (once it did not:
    every request failed)."""
    folder, port = walkthrough
    env, command = split_env(WALKTHROUGH[3].replace("8000", str(port)))
    extra = ["--headless", "--run-time", "4s", "--dcr-set", "loadtest.max_instances=20",
             "--csv", "run", "--only-summary"]  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "locust", *command[1:], *extra],
        env={**os.environ, **env},
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=90,
    )
    with (folder / "run_stats.csv").open(newline="") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    assert int(rows["Aggregated"]["Request Count"]) > 0, done.stderr[-2000:]
    assert int(rows["Aggregated"]["Failure Count"]) == 0, done.stderr[-2000:]


def test_walkthrough_loadtest_against_the_url_completes(walkthrough: tuple[Path, int]) -> None:
    folder, port = walkthrough
    command = WALKTHROUGH[4].replace("8000", str(port)).replace("--duration 30s", "--duration 3s")
    done = dcrload_here(*argv(command), "--set", "loadtest.max_instances=20", "--out", "lt",
                        cwd=folder)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prediction check passed" in done.stdout
    comparison = json.loads((folder / "lt" / "comparison.json").read_text())
    assert comparison["outcomes_passed"]  # what the URL answered is what was predicted
    assert (folder / "lt" / "report.html").is_file()


def test_rfc7591_walkthrough_probe_passes_against_the_reference_server(
    walkthrough: tuple[Path, int],
) -> None:
    """docs/rfc7591.md followed in order: the statement written above, the Authlib reference
    server trusting its key, the probe in the rfc7591 profile."""
    folder, _ = walkthrough
    kid = json.loads((folder / "keys" / "keys.json").read_text())["keys"][0]["kid"]
    port = free_port()
    server = shlex.split(RFC7591_WALKTHROUGH[0].replace("8100", str(port)).replace("<kid>", kid))
    _, process, _ = start_listening(
        [sys.executable, str(ROOT / server[1]), *server[2:]],
        "reference server listening on ",
        env=dict(os.environ),
        stop=reap,
        cwd=folder,
        timeout=30,
    )
    try:
        done = dcrload_here(*argv(RFC7591_WALKTHROUGH[1].replace("8100", str(port))), cwd=folder)
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        reap(process)
