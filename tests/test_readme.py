"""The README's promises: its set-up commands, its generated reference, CI's test command."""

from __future__ import annotations

import re
from pathlib import Path

from dcrload.model.reference import END, START, generated

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
FIRST = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/dcrload simulate"
TESTS = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/pytest'


def test_the_two_set_up_commands_are_in_the_readme():
    blocks = re.findall(r"```\n(.*?)\n```", README, flags=re.S)
    assert FIRST in blocks
    assert TESTS in blocks


def test_ci_runs_exactly_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in script if line and not line.startswith(("#", "set ", "cd "))]
    assert commands == [TESTS]


def test_scenario_reference_matches_the_model():
    block = README[README.index(START) : README.index(END) + len(END)]
    assert block == generated(), "run: python -m dcrload.model.reference --write"


def test_every_preset_and_every_shipped_scenario_is_documented():
    from dcrload.model.policies import PRESETS

    for name in PRESETS:
        assert f"`{name}`" in README
    for scenario in sorted((ROOT / "scenarios").glob("*.toml")):
        assert f"`{scenario.name}`" in README, scenario.name
