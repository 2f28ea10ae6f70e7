"""What a newcomer reads in the terminal: messages in the user's words, tables that fit.

Every message here is one line naming the file or the override, the field and what was
expected (a did-you-mean where a name was misspelt); cohorts can be addressed by name;
the terminal tables of `simulate` and `compare` fit an 80-column terminal without a
truncated cell; no matplotlib warning leaks onto stderr.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from cli_runner import dcrload_here
from rich.console import Console

from dcrload.analysis.comparison import METRICS, VariantStats
from dcrload.analysis.stats import mean_interval
from dcrload.core.errors import UsageError
from dcrload.model.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.toml"
TINY = ["--set", "fleet.instances=30", "--set", "scenario.duration=2h"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def error_of(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(UsageError) as caught:
        load_scenario(path, overrides)
    message = str(caught.value)
    assert "\n" not in message
    assert "Extra inputs" not in message and "Input should" not in message  # pydantic's words
    return message


# ------------------------------------------------------------------ scenario files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[fleet]\ninstanses = 5\n",
         "unknown field `fleet.instanses`; did you mean `fleet.instances`?"),
        ("[fleet]\nzzz = 5\n", "unknown field `fleet.zzz`; `fleet` takes instances, start,"),
        ("[flet]\ninstances = 5\n", "unknown field `flet`; did you mean `fleet`?"),
        ('[[cohorts]]\nshare = 1.0\nplatfrom = "tv"\n', "did you mean `cohorts.0.platform`?"),
        ('[[cohorts]]\nshare = 1.0\nrefresh = "goggle-auth"\n',
         "cohorts.0.refresh: unknown refresh preset 'goggle-auth' (did you mean 'google-auth'?)"),
        ('[[cohorts]]\nshare = 1.0\nretry = "full-jitter"\n', "(did you mean 'full_jitter'?)"),
        ('[fleet]\nstart = "hot"\n', "fleet.start: expected \"warm\" or \"cold\", got 'hot'"),
        ('[fleet]\ninstances = "many"\n', "fleet.instances: expected a whole number, got 'many'"),
        ("[fleet]\ninstances = -1\n", "fleet.instances: expected a number at least 0, got -1"),
        ('[usage]\nsession_length = {dist = "lognorm"}\n', "did you mean 'lognormal'?"),
        ("[[faults.revocations]]\nat = 1\n[faults.revocations.rollout]\nsoftware_id = \"v2\"\n"
         "curv = \"stepped\"\n", "did you mean `faults.revocations.0.rollout.curve`?"),
        ("[[cohorts]]\nplatform = \"tv\"\n", "cohorts.0.share: required, and missing"),
    ],
)  # fmt: skip
def test_a_bad_file_names_the_file_the_field_and_what_was_expected(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


# ------------------------------------------------------------------ --set and --vary


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("fleet.instances=abc",
         "--set fleet.instances=abc: fleet.instances: expected a whole number, got 'abc'"),
        ("fleet.instanses=5",
         "--set fleet.instanses=5: unknown field `fleet.instanses`;"
         " did you mean `fleet.instances`?"),
        ("cohorts.tv.refresh=goggle-auth",
         "--set cohorts.tv.refresh=goggle-auth: cohorts.1.refresh: unknown refresh preset"),
        ("cohorts.tvv.refresh=msal", "--set cohorts.tvv.refresh=msal: cohorts has 2 items"
         " (mobile, tv), no item 'tvv'; did you mean `cohorts.tv`?"),
        ("cohorts.7.refresh=msal", "--set cohorts.7.refresh=msal: cohorts has 2 items"
         " (mobile, tv), no item '7'"),
    ],
)  # fmt: skip
def test_a_bad_set_names_the_override_not_the_file(override: str, expected: str) -> None:
    message = error_of(DEFAULT, [override])
    assert message.startswith(expected)
    assert "default.toml" not in message


def test_a_file_error_is_still_the_files_with_overrides_given(tmp_path: Path) -> None:
    path = write(tmp_path, "[fleet]\ninstanses = 5\n")
    assert error_of(path, ["token.ttl=1h"]).startswith(f"{path}: unknown field")


def test_cohorts_by_name_in_set() -> None:
    by_name = load_scenario(DEFAULT, ["cohorts.tv.refresh=msal", "cohorts.mobile.share=0.5",
                                      "cohorts.tv.share=0.5"])  # fmt: skip
    by_index = load_scenario(DEFAULT, ["cohorts.1.refresh=msal", "cohorts.0.share=0.5",
                                       "cohorts.1.share=0.5"])  # fmt: skip
    assert by_name == by_index
    assert by_name.cohorts[1].name == "tv"


def test_cohorts_by_name_in_vary() -> None:
    from sim.sweep import build_grid

    grid = build_grid(DEFAULT, [], ["cohorts.tv.refresh=okta,msal"])
    assert [v.scenario.cohorts[1].refresh for v in grid.variants] == [
        load_scenario(DEFAULT, [f"cohorts.1.refresh={p}"]).cohorts[1].refresh
        for p in ("okta", "msal")
    ]
    with pytest.raises(UsageError, match=r"did you mean `cohorts\.tv`"):
        build_grid(DEFAULT, [], ["cohorts.tvv.refresh=okta,msal"])


def test_a_bad_set_on_the_command_line_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = dcrload_here("simulate", "--set", "fleet.instances=abc", "--out", str(tmp_path / "r"))
    assert done.returncode == 2
    assert done.stderr == (
        "dcrload: error: --set fleet.instances=abc: fleet.instances: expected a whole number,"
        " got 'abc'\n"
    )
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------ dcrload statement


def test_statement_out_naming_a_jwt_file_is_explained(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    done = dcrload_here("statement", "--out", "keys/my-app.jwt", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "File exists" not in done.stderr
    assert "--out keys/my-app.jwt: looks like a statement file; --out names a folder" in done.stderr
    assert "(e.g. --out keys)" in done.stderr
    assert list((tmp_path / "keys").iterdir()) == []


def test_statement_out_on_an_existing_file_is_explained(tmp_path: Path) -> None:
    (tmp_path / "keys").write_text("not a folder")
    done = dcrload_here("statement", "--out", "keys", cwd=tmp_path)
    assert done.returncode == 2
    assert "--out keys: is a file; --out names a folder" in done.stderr
    done = dcrload_here("statement", "--out", "keys/inner", cwd=tmp_path)
    assert "--out keys/inner: keys is a file, not a folder" in done.stderr


# ------------------------------------------------------------------ tables at 80 columns


def fits(text: str, width: int = 80) -> None:
    """Nothing cut: no ellipsis and no line wider than the terminal (but for the folder a
    run names last, whose length is the temporary folder's, not dcrload's)."""
    assert "…" not in text, text
    lines = [line for line in text.splitlines() if not line.startswith("results: ")]
    assert max(len(line.rstrip()) for line in lines) <= width, text


def test_the_fit_check_catches_a_truncated_table() -> None:
    from rich.table import Table

    table = Table()
    for name in ("variant", *(m.label for m in METRICS)):
        table.add_column(name)
    table.add_row("oauthlib (recommended)", *["0.0025 ±0.0106"] * len(METRICS))
    console = Console(file=io.StringIO(), width=80)
    console.print(table)
    with pytest.raises(AssertionError):
        fits(console.file.getvalue())


def test_simulate_output_fits_80_columns_and_stderr_stays_quiet(tmp_path: Path) -> None:
    # in this process, its warnings on its stderr as a fresh interpreter would print them
    done = dcrload_here("simulate", "scenarios/revocation-drill.toml", "--set",
                        "fleet.instances=80", "--out", str(tmp_path / "r"), cwd=ROOT,
                        env={"COLUMNS": "80"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    fits(done.stdout)
    assert "blocked instance-hours" in done.stdout
    assert done.stderr == ""  # no "No artists with labels", no progress noise


def test_compare_output_fits_80_columns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process (rich reads COLUMNS as a terminal would), with long variant names."""
    import warnings

    from dcrload.cli import main

    monkeypatch.setenv("COLUMNS", "80")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "No artists with labels" and the like
        warnings.simplefilter("default", ResourceWarning)  # another test's pipe, collected here
        code = main(["compare", "scenarios/strategy-shootout.toml", "--vary",
                     "cohorts.0.refresh=okta,golang-oauth2,aws-sdk-java", "--seeds", "2",
                     "--jobs", "1", "--out", str(tmp_path / "s"), *TINY])  # fmt: skip
    assert code == 0
    done = capsys.readouterr()
    fits(done.out)
    assert "golang-oauth2" in done.out and "aws-sdk-java" in done.out
    assert done.err == ""


def _variant(label: str, scale: float) -> VariantStats:
    values = {m.key: [scale * 1234.5, scale * 1300.25, scale * 1190.0] for m in METRICS}
    intervals = {k: mean_interval(v, floor=0.0) for k, v in values.items()}
    rps = [scale * (1 + math.sin(i)) for i in range(12)]
    return VariantStats(label, {}, [1, 2, 3], values, intervals, rps)


def test_a_compare_table_with_every_metric_nonzero_drops_columns_on_purpose() -> None:
    from sim.commands.compare import _print

    stats = [_variant("fixed_lead(lead=15m)", 1.0), _variant("decorrelated_jitter", 2.0)]
    result = {
        "stats": stats,
        "advice": {"verdict": "Recommended: fixed_lead(lead=15m) — a long verdict " * 3},
        "marks": {"fixed_lead(lead=15m)": " (recommended)", "decorrelated_jitter": " (excluded)"},
        "seeds": [1, 2, 3],
        "name": "strategy-shootout",
    }
    console = Console(file=io.StringIO(), width=80, color_system=None)
    _print(console, result)
    text = console.file.getvalue()
    fits(text)
    assert "not shown for width (see intervals.md): blocked s" in text
    assert "recommended" in text and "excluded" in text
    wide = Console(file=io.StringIO(), width=200, color_system=None)
    _print(wide, result)
    assert "not shown" not in wide.file.getvalue()  # all columns when there is room
