"""The SimPy driver: one process per agent, `Sleep` as `env.timeout`, `Send` to `SimServer`.

This is the engine where instances interact through time — the DCR workers' FIFO queue,
a throttle bucket shared by many devices — so every agent runs in one SimPy environment
and the server sees requests in time order.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from dcrload.model.agent import Agent, Sleep
from dcrload.model.counts import RunCounts
from sim.server import SimServer


def agent_process(env: simpy.Environment, agent: Agent, server: SimServer,
                  tally: list[int]) -> Generator[Any, Any, None]:  # fmt: skip
    """Drive one agent: wait for what it sleeps for, ask the server what it sends."""
    life = agent.life()
    rng = agent.server_rng
    device = agent.plan.device
    reply: Any = None
    while True:
        try:
            command = life.send(reply)
        except StopIteration:
            return
        tally[0] += 1
        if type(command) is Sleep:
            reply = None
            yield env.timeout(command.until - env.now)
        else:
            delay, reply = server.serve(command, device, env.now, rng)
            if delay > 0:
                yield env.timeout(delay)


def run_events(model: Any, plans: Any, server: SimServer, counts: RunCounts,
               progress: Any = None, steps: int = 200, *, recorder: Any = None) -> int:  # fmt: skip
    """Run every plan's agent in one environment until the end; return the events.
    `recorder(plan)` picks each agent's counts (a sample's replicate group), else `counts`."""
    env = simpy.Environment()
    tally = [0]

    def now() -> float:
        return float(env.now)

    for plan in plans:
        agent = Agent(model, plan, counts if recorder is None else recorder(plan), now)
        env.process(agent_process(env, agent, server, tally))
    duration = model.duration
    for k in range(1, steps + 1):
        env.run(until=duration * k / steps)
        if progress is not None:
            progress(env.now)
    return tally[0]
