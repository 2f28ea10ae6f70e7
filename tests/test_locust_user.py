"""The Locust user class itself, stepped in-process (in a subprocess: it imports Locust) over
a fake client through registration, tokens, refreshes, API calls and a revocation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_the_user_class_plays_the_lifecycle_over_its_client(tmp_path: Path) -> None:
    scenario = tmp_path / "users.toml"
    scenario.write_text(
        '[scenario]\nname = "users"\nduration = "1h"\nbin = "5m"\nseed = 4\n'
        '[fleet]\ninstances = 3\nstart = "cold"\nlaunch_spread = "10s"\n'
        '[[cohorts]]\nname = "box"\nshare = 1.0\nplatform = "server"\n'
        'refresh = { kind = "fixed_lead", lead = "1m" }\nretry = "none"\n'
        '[usage]\napi_interval = "2m"\n[token]\nttl = "10m"\n'
        "[loadtest]\nmax_instances = 3\n"
    )
    done = subprocess.run(
        [sys.executable, str(HERE / "locust_user_check.py"), str(scenario), "2400"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    calls = report["calls"]
    assert calls["register"] == 3  # once per instance
    assert calls["token"] >= 3 * 4 + 3  # first tokens, refreshes every 9 min, 3 refused
    assert calls["api:configuration"] >= 3 * 19
    marks = report["marks"]
    assert "register success" in marks and "token success" in marks
    assert "api:configuration failure: 401 revoked_client" in marks  # the revocation
    assert "token failure: 400 unauthorized_client" in marks
    series = {(e, o): sum(row) for e, o, row in report["series"]}
    assert series[("api", "401")] == 3 and series[("token", "400")] == 3
    assert 0.0 <= report["pause"] <= 0.05
    assert not report["matplotlib_loaded"]  # most of a second of each Locust process's start
