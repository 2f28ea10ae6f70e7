"""The agent and its drivers, in-process: the SimPy driver over a fake server, the Locust
driver over a fake client, and the run-to-completion loop against both.

The agent (`dcrload.model.agent`) is the one piece of usage logic; each driver only turns
`Sleep` into waiting and `Send` into an answer. These tests hold each driver to that with
a server and a client written here, not by dcrload's own server model or mock.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
import simpy
from fakes import TTL, FakeClient, FakeClock

from dcrload.core.actions import CallApi, FetchToken, Register, Response
from dcrload.core.wire import WireProfile
from dcrload.model.agent import Agent, Burst, Send, Sleep
from dcrload.model.counts import RunCounts
from dcrload.model.plans import FleetModel, fleet_plans
from dcrload.model.scenario import Scenario, validate
from loadtests.driver import LocustDriver
from sim.driver import agent_process


def scenario(**changes: Any) -> Scenario:
    data: dict[str, Any] = {
        "scenario": {"name": "drivers", "duration": "1h", "bin": "5m", "seed": 4},
        "fleet": {"instances": 3, "start": "cold", "launch_spread": "10s"},
        "cohorts": [
            {
                "name": "tv",
                "share": 1.0,
                "platform": "server",
                "refresh": {"kind": "fixed_lead", "lead": "1m"},
                "retry": "none",
            }
        ],
        "usage": {"api_interval": "2m"},
        "token": {"ttl": f"{TTL:g}s"},
        "faults": {"revocations": [{"at": "40m", "software_id": "dcrload-demo"}]},
    }
    data.update(changes)
    return validate(data, "test")


# --------------------------------------------------------------------------- a fake server


@dataclass
class FakeServer:
    """A DCR service in a dozen lines: register, token, API; revoked from `revoked_at`."""

    revoked_at: float = math.inf
    log: list[tuple[float, str]] = field(default_factory=list)
    by_device: dict[str, list[tuple[float, str]]] = field(default_factory=dict)
    issued: int = 0

    def serve(self, send: Send, device: str, now: float, rng: Any) -> tuple[float, Any]:
        action = send.action
        self.log.append((now, type(action).__name__))
        self.by_device.setdefault(device, []).append((now, type(action).__name__))
        revoked = now >= self.revoked_at
        if isinstance(action, Register):
            if revoked:
                return 0.05, Response(400, {"error": "unapproved_software_statement"})
            return 0.05, Response(201, {"client_id": f"c-{device}", "client_secret": "s"})
        if isinstance(action, FetchToken):
            if revoked:
                return 0.05, Response(400, {"error": "unauthorized_client"})
            self.issued += 1
            return 0.05, Response(201, {"access_token": f"t{self.issued}", "expires_in": TTL})
        assert send.repeat == 1  # this fake asks the agent to step calls one by one
        if revoked:
            return 0.05, Response(401, {"error": {"code": "revoked_client"}})
        return 0.05, Response(200)


def run_simpy(scn: Scenario, server: FakeServer) -> RunCounts:
    model = FleetModel(scn, 4)
    model.bulk = False
    counts = RunCounts(scn.scenario.duration, scn.scenario.bin, len(scn.cohorts))
    env = simpy.Environment()
    tally = [0]
    for plan in fleet_plans(model):
        agent = Agent(model, plan, counts, lambda: float(env.now))
        env.process(agent_process(env, agent, server, tally))  # type: ignore[arg-type]
    env.run(until=scn.scenario.duration)
    return counts


def test_simpy_driver_plays_register_token_refresh_api_and_the_revocation() -> None:
    scn = scenario()
    server = FakeServer(revoked_at=2400.0)
    counts = run_simpy(scn, server)
    series = {(e, o): sum(row) for e, o, row in counts.counters.items()}
    assert series[("register", "201")] == 3  # once per instance, at its cold start
    # the first token each, then a refresh a minute before each 10-minute token expires,
    # until the revocation at 40 min refuses the first refresh after it
    tokens = [t for t, kind in server.log if kind == "FetchToken"]
    assert series[("token", "201")] == sum(1 for t in tokens if t < 2400.0)
    assert series[("token", "400")] == 3
    for calls in server.by_device.values():
        mine = [t for t, kind in calls if kind == "FetchToken" and t < 2400.0]
        gaps = [b - a for a, b in itertools.pairwise(mine)]
        assert gaps and all(gap == pytest.approx(TTL - 60.0, abs=0.2) for gap in gaps)
    # API calls every 2 minutes from launch; after the revocation one is refused with 401,
    # the refresh is refused, and the instance is blocked to the end of the run
    assert series[("api", "401")] == 3
    assert counts.blocked.level_at_end() == 3
    assert counts.blocked.area()[-1] == 3 * scn.scenario.bin


# --------------------------------------------------------------------------- a fake client


def test_locust_driver_steps_agents_over_the_users_client() -> None:
    scn = scenario()
    clock = FakeClock()
    wire = WireProfile(name="adobe-pass")
    driver = LocustDriver(scn, clock, wire, {"dcrload-demo": "header.payload.sig"})  # type: ignore[arg-type]
    client = FakeClient(clock, revoked_at=2400.0)
    while clock.t < scn.scenario.duration:
        while driver.step(client):
            pass
        clock.t = min(driver.heap[0][0], scn.scenario.duration) if driver.heap else math.inf
    names = [name for _, name, _ in client.calls]
    assert names.count("register") == 3
    assert names.count("api:configuration") >= 3 * 19  # every 2 min for 40 min, then blocked
    tokens = [t for t, name, _ in client.calls if name == "token"]
    assert len(tokens) >= 3 * 4 + 3  # first tokens, refreshes every ~9 min, refused refreshes
    assert "api:configuration failure: 401 revoked_client" in client.marks
    assert "token failure: 400 unauthorized_client" in client.marks
    assert "register success" in client.marks
    snap = driver.snapshot()["counts"]
    series = {(e, o): sum(row) for e, o, row in snap["series"]}
    assert series[("api", "401")] == 3 and series[("token", "400")] == 3
    assert series[("api", "200")] == names.count("api:configuration") - 3


def test_the_locust_driver_and_the_simpy_driver_make_the_same_requests() -> None:
    """Same agents, same streams: over equal servers the two drivers send the same requests
    at the same driver times (up to the fake servers' 50 ms answers)."""
    scn = scenario()
    server = FakeServer(revoked_at=2400.0)
    run_simpy(scn, server)
    clock = FakeClock()
    driver = LocustDriver(scn, clock, WireProfile(name="adobe-pass"), {})
    client = FakeClient(clock, revoked_at=2400.0)
    while driver.heap and clock.t < scn.scenario.duration:
        while driver.step(client):
            pass
        if driver.heap:
            clock.t = driver.heap[0][0]
    kinds = {"register": "Register", "token": "FetchToken", "api:configuration": "CallApi"}
    ours = sorted(kinds[name] for t, name, _ in client.calls if t < scn.scenario.duration)
    theirs = sorted(kind for t, kind in server.log if t < scn.scenario.duration)
    assert ours == theirs


def test_a_burst_is_answered_once_and_counted_call_by_call() -> None:
    """The run-to-completion loop asks for bulk runs; the agent counts every call of one."""
    scn = scenario(faults={})
    model = FleetModel(scn, 4)
    counts = RunCounts(scn.scenario.duration, scn.scenario.bin, 1)
    plan = next(iter(fleet_plans(model)))
    t = [0.0]
    agent = Agent(model, plan, counts, lambda: t[0])
    life = agent.life()
    reply: Any = None
    bursts = 0
    while True:
        try:
            command = life.send(reply)
        except StopIteration:
            break
        if isinstance(command, Sleep):
            t[0], reply = command.until, None
        elif command.repeat > 1:
            bursts += 1
            assert isinstance(command.action, CallApi)
            t[0] += (command.repeat - 1) * command.every + 0.05
            reply = Burst(command.repeat)
        elif isinstance(command.action, Register):
            t[0] += 0.05
            reply = Response(201, {"client_id": "c", "client_secret": "s"})
        elif isinstance(command.action, FetchToken):
            t[0] += 0.05
            reply = Response(201, {"access_token": "tok", "expires_in": TTL})
        else:
            t[0] += 0.05
            reply = Response(200)
    assert bursts >= 5
    api = counts.counters.total("api", "200")
    launch = plan.first_launch
    assert api == math.ceil((scn.scenario.duration - launch) / 120.0 - 1e-9)
    assert counts.api_wanted == api
