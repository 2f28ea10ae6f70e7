"""`MockSettings` and `settings_from_scenario`."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcrload.core.wire import Paths
from loadtests.mockserver.settings import MockSettings, settings_from_scenario


def test_defaults_follow_the_profile() -> None:
    assert MockSettings().paths == Paths("/o/client/register", "/o/client/token", "/api/v2")
    assert MockSettings(profile="rfc7591").paths == Paths("/register", "/token", "/api/v2")


@pytest.mark.parametrize(
    "bad",
    [
        {"profile": "x"},
        {"ttl": 0},
        {"ttl_jitter": 1.0},
        {"token_alg": "HS256"},
        {"quirks": frozenset({"nope"})},
    ],
)
def test_bad_settings(bad: dict) -> None:
    with pytest.raises(ValueError):
        MockSettings(**bad)


def test_from_scenario(tmp_path: Path) -> None:
    import dcrload.model.scenario as scenario_module

    path = tmp_path / "s.toml"
    path.write_text(
        '[token]\nttl = "6h"\nttl_jitter = 0.2\n'
        '[loadtest]\ntime_scale = 360\nprofile = "rfc7591"\n'
        '[loadtest.paths]\nregister = "/r"\ntoken = "/t"\napi_prefix = "/api/v2/sp9"\n'
        "[server.throttle]\nrate = 2.0\nburst = 4\nretry_after = true\n"
    )
    settings = settings_from_scenario(scenario_module.load_scenario(path), seed=3)
    assert settings.ttl == 60.0 and settings.ttl_jitter == 0.2
    assert settings.profile == "rfc7591"
    assert settings.paths == Paths("/r", "/t", "/api/v2")
    # 2 requests/s per simulated second is 720 per real second at 360x
    assert (settings.throttle.rate, settings.throttle.burst, settings.throttle.retry_after) == (
        720.0,
        4,
        True,
    )
    assert settings.seed == 3
