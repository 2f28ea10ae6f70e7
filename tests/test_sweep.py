"""`sim.sweep`: `--vary` parsing, the grid, run keys and the on-disk store (in-process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcrload.core.errors import UsageError
from dcrload.model.policies import PRESETS
from sim.sweep import (
    RunStore,
    build_grid,
    code_fingerprint,
    execute,
    parse_vary,
    run_key,
    split_values,
)

ROOT = Path(__file__).resolve().parent.parent
SHOOTOUT = ROOT / "scenarios" / "strategy-shootout.toml"
SMALL = ["fleet.instances=40", "scenario.duration=2h"]


def test_split_values_respects_tables_lists_and_quotes() -> None:
    assert split_values("a, b,c") == ["a", "b", "c"]
    assert split_values('{kind = "fixed_lead", lead = "5m"},msal') == [
        '{kind = "fixed_lead", lead = "5m"}',
        "msal",
    ]
    assert split_values('[1, 2],"x,y"') == ["[1, 2]", '"x,y"']


def test_parse_vary_reads_values_like_set() -> None:
    axis = parse_vary("token.ttl=6h,3600,{a = 1}")
    assert axis.path == "token.ttl"
    assert axis.values == ("6h", 3600, {"a": 1})
    assert axis.labels == ("6h", "3600", "{a=1}")


def test_presets_expand_to_every_preset_among_other_values() -> None:
    axis = parse_vary('cohorts.0.refresh=@presets,{kind="fixed_lead",lead="15m"}')
    assert list(axis.texts[: len(PRESETS)]) == list(PRESETS)
    assert axis.labels[-1] == "fixed_lead(lead=15m)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("cohorts.0.refresh", "expected PATH=V1,V2"),
        ("=a,b", "expected PATH=V1,V2"),
        ("fleet.instances=", "expected PATH=V1,V2"),
        ("fleet..instances=1", "not a dotted field path"),
        ("fleet.instances=1,,2", "empty value"),
        ("fleet.instances=1,1", "listed twice"),
        ("fleet.instances=@presets", "@presets is not known for fleet.instances"),
        ("scenario.seed=1,2", "--seeds"),
    ],
)
def test_malformed_vary_is_refused(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_vary(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("fleet.nosuch=1,2", "unknown field `fleet.nosuch`; `fleet` takes instances"),
        ("fleet.instances=10,-5", "fleet.instances"),
        ("cohorts.0.refresh=msal,nosuch", "unknown refresh preset 'nosuch'"),
        ("cohorts.3.refresh=msal", "no item '3'"),
        ("fleet.instances.x=1", "not a table"),
    ],
)
def test_invalid_values_name_the_vary(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        build_grid(SHOOTOUT, [], [spec])
    assert str(caught.value).startswith("--vary ")
    assert "\n" not in str(caught.value)


def test_grid_is_the_product_of_the_axes() -> None:
    grid = build_grid(SHOOTOUT, SMALL, ["cohorts.0.refresh=okta,msal,botocore", "token.ttl=1h,6h"])
    assert len(grid.variants) == 6
    assert grid.variants[0].label == "refresh=okta, ttl=1h"
    assert grid.variants[-1].label == "refresh=botocore, ttl=6h"
    assert {v.scenario.token.ttl for v in grid.variants} == {3600.0, 21600.0}
    assert grid.variants[1].scenario.cohorts[0].refresh.kind == "fixed_lead"
    assert grid.base.fleet.instances == 40  # --set applies to every variant
    assert all(v.scenario.fleet.instances == 40 for v in grid.variants)
    seeds = grid.seeds(3)
    assert seeds == [11, 12, 13]
    tasks = grid.tasks(seeds, "code")
    assert len(tasks) == 18 and len({t.key for t in tasks}) == 18


def test_sweep_fingerprint_ignores_order_but_not_values() -> None:
    one = build_grid(SHOOTOUT, SMALL, ["cohorts.0.refresh=okta,msal"]).fingerprint()
    same = build_grid(SHOOTOUT, SMALL, ["cohorts.0.refresh=msal,okta"]).fingerprint()
    other = build_grid(SHOOTOUT, SMALL, ["cohorts.0.refresh=okta,kubelet"]).fingerprint()
    bigger = build_grid(SHOOTOUT, ["fleet.instances=41"], ["cohorts.0.refresh=okta,msal"])
    assert one == same
    assert one != other and one != bigger.fingerprint()


def test_run_key_depends_on_what_decides_the_run() -> None:
    grid = build_grid(SHOOTOUT, SMALL, ["cohorts.0.refresh=okta,msal"])
    okta, msal = (v.scenario for v in grid.variants)
    assert run_key(okta, 1, "c") == run_key(okta, 1, "c")
    assert run_key(okta, 1, "c") != run_key(okta, 2, "c")
    assert run_key(okta, 1, "c") != run_key(msal, 1, "c")
    assert run_key(okta, 1, "c") != run_key(okta, 1, "other code")
    # a preset and its table are the same strategy: the same run
    table = build_grid(
        SHOOTOUT, SMALL, ['cohorts.0.refresh={kind="fixed_lead",lead="30s"}']
    ).variants[0]
    assert run_key(table.scenario, 1, "c") == run_key(okta, 1, "c")


def test_code_fingerprint_is_stable() -> None:
    assert code_fingerprint() == code_fingerprint()


def test_store_ignores_unreadable_records_and_leaves_no_temp_files(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    store.write({"key": "abc", "value": 1})
    assert store.load("abc") == {"key": "abc", "value": 1}
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc.json"]
    (tmp_path / "runs" / "bad.json").write_text("{truncated")
    (tmp_path / "runs" / "other.json").write_text(json.dumps({"key": "not-other"}))
    assert store.load("bad") is None and store.load("other") is None
    assert store.load("missing") is None


def test_store_lock_refuses_a_second_sweep(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs")
    with (
        store.locked(),
        pytest.raises(UsageError, match="another dcrload compare"),
        RunStore(tmp_path / "runs").locked(),
    ):
        pass
    with store.locked():  # released again
        pass


def test_execute_in_process_writes_one_record_per_task(tmp_path: Path) -> None:
    grid = build_grid(SHOOTOUT, SMALL, ["cohorts.0.refresh=okta,botocore"])
    tasks = grid.tasks(grid.seeds(2), "code")
    store = RunStore(tmp_path / "runs")
    seen: list[int] = []
    assert execute(tasks, store, "code", jobs=1, tick=seen.append) == 4
    assert seen[-1] == 4
    for task in tasks:
        record = store.load(task.key)
        assert record is not None
        assert record["variant"] == task.variant and record["seed"] == task.seed
        assert record["summary"]["seed"] == task.seed
        assert len(record["token_per_bin"]) == 12  # 2 h in 10 min bins


def test_two_spellings_of_one_variant_are_refused() -> None:
    with pytest.raises(UsageError, match="okta and fixed_lead\\(lead=30s\\) are the same"):
        build_grid(SHOOTOUT, SMALL, ['cohorts.0.refresh=okta,{kind="fixed_lead",lead="30s"}'])
