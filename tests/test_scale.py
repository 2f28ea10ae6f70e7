"""Fleet scale: shards (`--jobs`), a sample (`--sample`), Dask, and the draws they rest on.

Shards must give exactly the one-process counts when no DCR request queues; a sample's
intervals must cover the full run's value, and must not cover a value that is wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from cli_runner import dcrload_here
from golden import ROOT, golden_summary, scenario_of

from dcrload.core.streams import run_key, stream
from sim.fleet import simulate
from sim.shards import ShardTask, run_tasks, sample_draws, shard_members

pytestmark = pytest.mark.xdist_group("scale")  # module fixtures: once


def summary(name: str, extra: list[str] | None = None, **options: Any) -> dict[str, Any]:
    return golden_summary(simulate(scenario_of(name, extra), **options))


# --------------------------------------------------------------------------- draws


def test_vectorised_sample_draws_are_the_streams_draws() -> None:
    key = run_key(7)
    indices = np.array([0, 1, 2, 17, 999_999, 9_999_999, 2**40], dtype=np.int64)
    expected = [stream(key, int(i), "sample").random() for i in indices]
    assert sample_draws(key, indices).tolist() == expected


def test_shards_partition_the_fleet_and_a_sample_is_its_fraction() -> None:
    key = run_key(3)
    whole = np.concatenate([shard_members(key, 10_000, k, 3, 1.0, 1)[0] for k in range(3)])
    assert sorted(whole.tolist()) == list(range(10_000))
    chosen, groups = shard_members(key, 100_000, 0, 1, 0.1, 16)
    assert 9_500 < len(chosen) < 10_500
    assert set(groups.tolist()) == set(range(16))
    # a shard of a sample is the sample's share of the shard: same instances either way
    split = np.concatenate([shard_members(key, 100_000, k, 2, 0.1, 16)[0] for k in range(2)])
    assert sorted(split.tolist()) == chosen.tolist()


# --------------------------------------------------------------------------- shards


@pytest.mark.parametrize("name", ["default", "revocation-drill", "outage-recovery"])
def test_two_shards_count_exactly_what_one_process_counts(name: str) -> None:
    one = summary(name)
    result = simulate(scenario_of(name), jobs=2)
    assert result.engine["shards"] == {
        "count": 2,
        "on": "processes",
        "workers_each": scenario_of(name).server.workers,
        "exact": True,
    }
    assert golden_summary(result) == one


def test_shards_that_queue_share_the_workers_and_stay_close() -> None:
    """2 workers, 2 s services: requests wait, so each shard gets 1 worker of its own."""
    extra = ["server.workers=2", 'server.service_time={dist="exponential", mean="2s"}']
    one = simulate(scenario_of("default", extra))
    two = simulate(scenario_of("default", extra), jobs=2)
    assert one.engine["mode"] == two.engine["mode"] == "event"
    assert two.engine["shards"]["workers_each"] == 1 and not two.engine["shards"]["exact"]
    for endpoint in ("register", "token", "api"):
        a, b = one.counters.total(endpoint), two.counters.total(endpoint)
        assert abs(a - b) <= 0.01 * a, endpoint  # measured: 5,420 vs 5,425 tokens


def test_a_fleet_that_queues_stops_its_direct_pass_early() -> None:
    """A request that waited stays waited: the run to completion gives up after the first
    check that finds one (1,000 instances of 2,500), and the event engine's result is the
    one returned — in one process and in shards (a shard's check counts the run's workers)."""
    extra = [
        "fleet.instances=2500", "scenario.duration=6h", "server.workers=2",
        'server.service_time={dist="exponential", mean="2s"}',
    ]  # fmt: skip
    scenario = scenario_of("default", extra)
    fell_back = simulate(scenario)
    assert fell_back.engine["fell_back"] and fell_back.engine["queue_seen_after"] == 1000
    assert golden_summary(fell_back) == golden_summary(simulate(scenario, engine="event"))
    split = simulate(scenario, jobs=2)
    assert split.engine["mode"] == "event" and split.engine["fell_back"]
    free = simulate(scenario_of("default", ["fleet.instances=2500", "scenario.duration=6h"]))
    assert free.engine["mode"] == "direct" and not free.engine["fell_back"]
    assert "queue_seen_after" not in free.engine


def test_a_shared_throttle_bucket_is_not_split() -> None:
    result = simulate(scenario_of("launch-day"), jobs=2)
    assert result.engine["shards"] == {"count": 1, "why": "a shared throttle bucket"}
    assert golden_summary(result) == summary("launch-day")


# --------------------------------------------------------------------------- a sample


@pytest.fixture(scope="module")
def full_and_sampled() -> tuple[dict[str, Any], dict[str, Any]]:
    extra = ["fleet.instances=3000", "scenario.duration=1d", "faults.clock.wild_fraction=0"]
    full = summary("default", extra)
    sampled = simulate(scenario_of("default", extra), sample=0.3)
    return full, golden_summary(sampled) | {"engine": sampled.engine}


def test_a_sample_scales_counts_and_capacity(full_and_sampled: Any) -> None:
    full, sampled = full_and_sampled
    info = sampled["engine"]["sample"]
    assert info["workers"] == round(32 * 0.3) and info["groups"] == 16
    assert 900 < info["instances_simulated"] < 1150  # 0.3 of 3,000 + about 400 installs
    for endpoint in ("token", "api"):
        estimate = sampled["endpoints"][endpoint]["requests"]
        assert info["intervals"][f"{endpoint}.total"]["estimate"] == pytest.approx(estimate, 1e-3)
        assert estimate == pytest.approx(full["endpoints"][endpoint]["requests"], rel=0.15)


@pytest.mark.parametrize("quantity", ["register.total", "token.total", "api.total", "api.peak_rps"])
def test_the_intervals_cover_the_full_runs_value(full_and_sampled: Any, quantity: str) -> None:
    full, sampled = full_and_sampled
    endpoint, stat = quantity.split(".")
    data = full["endpoints"][endpoint]
    value = data["requests"] if stat == "total" else data["peak_rps"]
    interval = sampled["engine"]["sample"]["intervals"][quantity]
    assert interval["low"] <= value <= interval["high"], (value, interval)
    assert interval["high"] - interval["low"] < 0.5 * value  # an interval that says something


def test_the_intervals_exclude_a_wrong_value(full_and_sampled: Any) -> None:
    """The same fleet with 3 h tokens sends about twice the token requests: not covered."""
    _, sampled = full_and_sampled
    extra = ["fleet.instances=3000", "scenario.duration=1d", "faults.clock.wild_fraction=0"]
    other = summary("default", [*extra, "token.ttl=3h"])["endpoints"]["token"]["requests"]
    interval = sampled["engine"]["sample"]["intervals"]["token.total"]
    assert not interval["low"] <= other <= interval["high"], (other, interval)


def test_a_sampled_runs_recovery_baseline_is_the_same_sample() -> None:
    from sim.recovery import baseline_run

    scenario = scenario_of("outage-recovery")
    result = simulate(scenario, sample=0.5)
    baseline = baseline_run(result, sample=0.5)
    assert baseline is not None
    simulated = result.engine["sample"]["instances_simulated"]
    assert baseline.engine["sample"]["instances_simulated"] == simulated
    assert baseline.counters.total("token", "503") == 0 < result.counters.total("token", "503")


# --------------------------------------------------------------------------- the command line


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dcrload", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (["--jobs", "0"], "--jobs 0: expected a positive integer"),
        (["--sample", "0"], "--sample 0: expected a fraction in (0, 1]"),
        (["--sample", "1.5"], "--sample 1.5: expected a fraction in (0, 1]"),
        (["--dask", "10.0.0.5"], "--dask 10.0.0.5: expected a scheduler address"),
    ],
)
def test_bad_scale_flags_are_one_line_and_status_2(flag: list[str], message: str) -> None:
    done = dcrload_here("simulate", *flag)  # refused before any run: in this process
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_simulate_jobs_and_sample_write_the_intervals(tmp_path: Any) -> None:
    """Three workers cannot be halved: the sample keeps round(1.5) = 2 and says so."""
    out = tmp_path / "run"
    done = run_cli(
        "simulate", "--set", "fleet.instances=600", "--set", "scenario.duration=6h",
        "--set", "server.workers=3", "--jobs", "2", "--sample", "0.5", "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    engine = json.loads((out / "summary.json").read_text())["engine"]
    assert engine["shards"]["count"] == 2
    assert engine["sample"]["fraction"] == 0.5
    assert engine["sample"]["workers"] == 2 and engine["sample"]["workers_in_proportion"] == 1.5
    text = " ".join(done.stdout.split())
    assert "95 % intervals" in text
    assert "has 2 DCR worker(s) where 1.5 would match the fleet's: it queues less" in text


# --------------------------------------------------------------------------- Dask


def test_dask_local_starts_and_closes_its_own_cluster() -> None:
    scenario = scenario_of("default", ["fleet.instances=100", "scenario.duration=6h"])
    result = simulate(scenario, jobs=2, dask="local")
    assert result.engine["shards"]["on"] == "local"
    assert golden_summary(result) == golden_summary(simulate(scenario))


# --------------------------------------------------------------------------- a Dask cluster
# Last in the module: the module's cluster lives from its first test to the module's end,
# and its idle workers and nannies keep spending CPU (about 0.06 s per second each).


@pytest.fixture(scope="module")
def dask_scheduler() -> Any:
    import distributed  # a dependency: its absence is a failure, not a skip

    cluster = distributed.LocalCluster(
        host="127.0.0.1", processes=True, n_workers=2, threads_per_worker=1,
        dashboard_address="127.0.0.1:0",  # loopback; None cannot turn it off (dask#8136)
    )  # fmt: skip
    yield cluster.scheduler_address
    cluster.close()


def test_shards_on_a_dask_cluster_are_the_local_run(dask_scheduler: str) -> None:
    assert dask_scheduler.startswith("tcp://127.0.0.1:")
    scenario = scenario_of("default")
    tasks = [ShardTask(scenario, 7, k, 2) for k in range(2)]
    assert run_tasks(tasks, 2, dask_scheduler) == run_tasks(tasks, 1)
    result = simulate(scenario, jobs=2, dask=dask_scheduler)
    assert result.engine["shards"]["on"] == dask_scheduler
    assert golden_summary(result) == summary("default")


def test_compare_on_a_dask_cluster_is_the_local_run(dask_scheduler: str, tmp_path: Any) -> None:
    common = ["compare", "scenarios/default.toml", "--set", "fleet.instances=200",
              "--set", "scenario.duration=6h", "--vary", "token.ttl=1h,6h",
              "--seeds", "2"]  # fmt: skip
    # in this process: the local sweep runs one simulation at a time, the other is a client
    # of the cluster (no pool of this process's own)
    local = dcrload_here(*common, "--jobs", "1", "--out", str(tmp_path / "local"))
    remote = dcrload_here(*common, "--dask", dask_scheduler, "--out", str(tmp_path / "dask"))
    assert local.returncode == 0, local.stderr
    assert remote.returncode == 0, remote.stderr
    assert "on the Dask cluster" in " ".join(remote.stdout.split())
    for name in ("intervals.csv", "recommendation.json"):
        assert (tmp_path / "local" / name).read_text() == (tmp_path / "dask" / name).read_text()


def test_a_shard_runs_without_the_collector_and_leaves_it_as_it_found_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A shard turns the cyclic collector off (a fifth of its CPU) and back on after."""
    import gc

    import sim.shards

    during: list[bool] = []
    simulate_shard = sim.shards._run_shard

    def watched(task: ShardTask) -> dict[str, Any]:
        during.append(gc.isenabled())
        return simulate_shard(task)

    monkeypatch.setattr(sim.shards, "_run_shard", watched)
    scenario = scenario_of("default").model_copy(deep=True)
    try:
        for enabled in (True, False):
            (gc.enable if enabled else gc.disable)()
            answer = sim.shards.run_shard(
                ShardTask(scenario, 7, 0, 2, 1.0, 1, "direct", None, True)
            )
            assert answer["instances"] > 0
            assert gc.isenabled() is enabled
        assert during == [False, False]
    finally:
        gc.enable()
