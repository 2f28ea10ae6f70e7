"""The scenario model: TOML in, one validated model out, `--set` with the same validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrload.core.errors import UsageError
from dcrload.core.strategies import AdvisoryMandatory, FixedLead, Fraction, Reactive
from dcrload.model.distributions import Fixed, LogNormal
from dcrload.model.overrides import parse_value
from dcrload.model.policies import PRESETS
from dcrload.model.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "scenarios" / "default.toml"
SHIPPED = sorted((ROOT / "scenarios").glob("*.toml"))


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_scenarios_validate_and_open_with_their_question(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name
    assert path.read_text().startswith("# Question:")


def test_default_scenario_numbers() -> None:
    scenario = load_scenario(DEFAULT)
    assert scenario.scenario.duration == 2 * 86400
    assert scenario.token.ttl == 6 * 3600
    assert [c.platform for c in scenario.cohorts] == ["mobile", "tv"]
    assert scenario.cohorts[0].refresh == FixedLead(lead=225.0)


def test_empty_file_gives_documented_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, ""))
    assert scenario.scenario.duration == 86400.0
    assert scenario.scenario.bin == 300.0
    assert scenario.token.ttl == 21600.0
    assert len(scenario.cohorts) == 1 and scenario.cohorts[0].share == 1.0
    assert scenario.cohorts[0].refresh == FixedLead(lead=300.0)
    assert scenario.cohorts[0].expiry_basis == "expires_in"


def test_durations_in_every_unit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[scenario]\nduration = "1h30m"\nbin = "90s"\n'
        '[token]\nttl = "2d"\n'
        '[server]\nservice_time = { dist = "fixed", value = "15ms" }\n'
        '[faults.clock]\noffset = { dist = "fixed", value = "-10m" }\n',
    )
    scenario = load_scenario(path)
    assert scenario.scenario.duration == 5400.0
    assert scenario.scenario.bin == 90.0
    assert scenario.token.ttl == 172800.0
    assert scenario.server.service_time == Fixed(value=0.015)
    assert scenario.faults.clock.offset.mean == -600.0


def test_set_overrides_nested_and_list_paths() -> None:
    scenario = load_scenario(
        DEFAULT,
        [
            "cohorts.0.refresh=msal",
            "token.ttl=1h",
            "fleet.instances=123",
            "cohorts.1.expiry_basis=expires_in",
            'usage.session_length={dist = "lognormal", median = "10m", sigma = 0.5}',
            'faults.outages=[{start = "6h", duration = "30m"}]',
        ],
    )
    assert isinstance(scenario.cohorts[0].refresh, Fraction)
    assert scenario.cohorts[0].refresh.min_lifetime == 7200.0
    assert scenario.cohorts[1].expiry_basis == "expires_in"
    assert scenario.token.ttl == 3600.0
    assert scenario.fleet.instances == 123
    assert scenario.usage.session_length == LogNormal(median=600.0, sigma=0.5)
    assert [(o.start, o.duration) for o in scenario.faults.outages] == [(21600.0, 1800.0)]
    # the file itself is untouched by an override
    assert load_scenario(DEFAULT).token.ttl == 21600.0


def test_set_creates_missing_tables_and_a_cohort(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, ""), ["cohorts.0.refresh=botocore", "token.ttl=2h"])
    assert isinstance(scenario.cohorts[0].refresh, AdvisoryMandatory)
    assert scenario.token.ttl == 7200.0


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_accepted_by_name(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, f'[[cohorts]]\nshare = 1.0\nrefresh = "{name}"\n')
    refresh = load_scenario(path).cohorts[0].refresh
    assert refresh.kind == PRESETS[name]["kind"]


def test_presets_as_tables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[[cohorts]]\nshare = 0.5\nrefresh = { kind = "fixed_lead", lead = "3m45s" }\n'
        '[[cohorts]]\nname = "b"\nshare = 0.5\nrefresh = { kind = "reactive" }\n',
    )
    cohorts = load_scenario(path).cohorts
    assert cohorts[0].refresh == FixedLead(lead=225.0)
    assert isinstance(cohorts[1].refresh, Reactive)


def test_bad_preset_name_lists_the_presets(tmp_path: Path) -> None:
    path = write(tmp_path, '[[cohorts]]\nshare = 1.0\nrefresh = "goggle-auth"\n')
    with pytest.raises(UsageError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert "cohorts.0.refresh" in message
    assert "goggle-auth" in message
    for name in PRESETS:
        assert name in message


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[fleet]\ninstances = "many"\n', "fleet.instances"),
        ("[fleet]\ninstancez = 10\n", "fleet.instancez"),
        ('[token]\nttl = "6 hours"\n', "token.ttl"),
        ('[token]\nttl = "-1h"\n', "token.ttl"),
        ('[[cohorts]]\nshare = 0.5\n[[cohorts]]\nname = "b"\nshare = 0.3\n', "add up to 1"),
        ("[usage]\ndiurnal = [1, 2]\n", "diurnal"),
        ('[[cohorts]]\nshare = 1.0\nplatform = "watch"\n', "cohorts.0.platform"),
        ('[[cohorts]]\nshare = 1.0\nretry = "sometimes"\n', "cohorts.0.retry"),
    ],
)
def test_bad_fields_name_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert field in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("fleet.instancez=10", "fleet.instancez"),
        ("fleet.instances=many", "fleet.instances"),
        ("token.ttl=banana", "token.ttl"),
        ("fleet.instances", "path=value"),
        ("=10", "path=value"),
        ("cohorts.7.refresh=msal", "no item '7'"),
        ("fleet.instances.x=1", "not a table"),
        ("cohorts.0.refresh=nope", "presets: "),
    ],
)
def test_bad_overrides_are_usage_errors(override: str, expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        load_scenario(DEFAULT, [override])
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_scenario(write(tmp_path, "[fleet\ninstances = 1\n"))


def test_override_values_are_toml_or_plain_strings() -> None:
    assert parse_value("10") == 10
    assert parse_value("true") is True
    assert parse_value("6h") == "6h"
    assert parse_value("google-auth") == "google-auth"
    assert parse_value('{kind = "fixed_lead", lead = "5m"}') == {"kind": "fixed_lead", "lead": "5m"}


def test_scenario_is_frozen() -> None:
    scenario = load_scenario(DEFAULT)
    with pytest.raises(Exception):  # noqa: B017 - pydantic raises ValidationError
        scenario.fleet.instances = 5  # type: ignore[misc]
    assert isinstance(scenario, Scenario)


@pytest.mark.parametrize(
    "table",
    [
        {"dist": "fixed", "value": "2s"},
        {"dist": "exponential", "mean": "25ms"},
        {"dist": "lognormal", "median": "25m", "sigma": 0.8},
        {"dist": "uniform", "low": "-2d", "high": "2d"},
        {"dist": "normal", "sd": "30s"},
    ],
)
def test_a_distributions_sampler_draws_what_sample_draws(table: dict[str, object]) -> None:
    """`sampler()` is `sample` with the fields read once: the same values, draw for draw."""
    from pydantic import TypeAdapter

    from dcrload.core.streams import stream
    from dcrload.model.distributions import Distribution

    dist = TypeAdapter(Distribution).validate_python(table)
    fast, slow = stream(5, 1, "usage"), stream(5, 1, "usage")
    draw = dist.sampler()
    assert [draw(fast) for _ in range(200)] == [dist.sample(slow) for _ in range(200)]
