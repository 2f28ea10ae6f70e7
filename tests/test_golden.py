"""Every shipped scenario, small: its golden output, and the same counts whichever way the
fleet is stepped (bulk or call by call, run to completion or in SimPy)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from golden import GOLDEN, SMALL, run

pytestmark = pytest.mark.xdist_group("golden")  # module fixtures: once

NAMES = sorted(SMALL)


@pytest.fixture(scope="module")
def bulk() -> dict[str, dict[str, Any]]:
    return {name: run(name) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
def test_golden_output(name: str, bulk: dict[str, dict[str, Any]]) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text())
    assert json.loads(json.dumps(bulk[name], sort_keys=True)) == expected, (
        f"{name} changed: if on purpose, run `python tests/golden.py --write` and read the diff"
    )


@pytest.mark.parametrize("name", NAMES)
def test_bulk_counting_is_event_by_event_stepping(
    name: str, bulk: dict[str, dict[str, Any]]
) -> None:
    assert run(name, bulk=False) == bulk[name]


@pytest.mark.parametrize("name", NAMES)
def test_the_event_engine_gives_the_same_counts(name: str, bulk: dict[str, dict[str, Any]]) -> None:
    assert run(name, engine="event") == bulk[name]


@pytest.mark.parametrize("budget", [0.1, 0.5])
def test_bulk_keeps_retry_budgets_exact(budget: float) -> None:
    """A retry budget divides by requests sent: bulk runs must report every call to it."""
    extra = [f'cohorts.0.retry={{kind="immediate", attempts=200, budget={budget}}}']
    stepped = run("outage-recovery", extra, bulk=False)
    assert run("outage-recovery", extra) == stepped
    assert stepped["endpoints"]["token"]["by_outcome"].get("503", 0) > 0


def test_a_clock_what_if_changes_nothing_but_what_depends_on_the_clock() -> None:
    base = run("default")
    calm = run("default", ["faults.clock.wild_fraction=0"])
    assert calm["impact"]["credential_losses"] == base["impact"]["credential_losses"]
    assert calm["fleet"]["installs"] == base["fleet"]["installs"]
    assert calm["fleet"]["api_calls_wanted"] == base["fleet"]["api_calls_wanted"]
    for name, cohort in base["cohorts"].items():
        assert calm["cohorts"][name]["instances"] == cohort["instances"]
    mobile = "mobile"
    assert calm["cohorts"][mobile] == base["cohorts"][mobile]  # mobile clocks are not wild
    assert calm["cohorts"]["tv"]["token"] < base["cohorts"]["tv"]["token"]
