"""The run-to-completion driver: each agent alone, from install to the end, one after another.

Where instances do not interact — no shared throttle bucket, and a DCR queue in which no
request waits — an instance's life depends only on its own streams and the server's
windows of time, so it can be run to its end before the next one starts, with no event
queue at all: `Sleep` just moves the instance's own clock. Memory stays flat (one agent
alive at a time) and each decision costs only the lifecycle's work. The server records
every DCR arrival; `SimServer.queue_free()` then tells whether the FIFO queue would have
made any request wait, and if so the fleet runs again in the SimPy driver (`sim.fleet`).

A request that waited stays a request that waited however many instances run after it
(each adds requests, none removes one), so with `check_queue` the check is also made after
1,000, 2,000, 4,000, ... instances, and `WouldQueue` ends a pass whose outcome is already
known: a fleet that queues falls back to the event engine after a few thousand instances
instead of after all of them, at no more than twice the cost of the one final check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from dcrload.model.agent import Agent, Sleep
from dcrload.model.counts import RunCounts
from dcrload.model.plans import FleetModel, Plan, chunks
from sim.plainday import PlainDay
from sim.server import SimServer

FIRST_QUEUE_CHECK = 1000
"""Instances run before the queue is first checked (then after twice as many, ...)."""


class WouldQueue(Exception):
    """A DCR request of the instances run so far would have waited for a worker."""

    def __init__(self, instances: int) -> None:
        super().__init__(f"a DCR request would have waited (seen after {instances} instances)")
        self.instances = instances


class Timeline:
    """The clock of the agent being run: its own time, moved by the driver."""

    __slots__ = ("t",)

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


def run_alone(agent: Agent, server: SimServer, timeline: Timeline) -> int:
    """Run one agent to its end; return its events (commands answered)."""
    life = agent.life()
    rng, device = agent.server_rng, agent.plan.device
    events = 0
    reply = None
    send = life.send
    serve = server.serve
    try:
        while True:
            command = send(reply)
            events += 1
            if type(command) is Sleep:
                timeline.t = command.until
                reply = None
            else:
                at = command.at  # a renewal sent without a Sleep before it
                if at is not None:
                    timeline.t = at
                delay, reply = serve(command, device, timeline.t, rng)
                timeline.t += delay
    except StopIteration:
        return events


def run_fleet(
    model: FleetModel,
    plans: Iterable[Plan],
    server: SimServer,
    counts: RunCounts,
    progress: Callable[[int], None] | None = None,
    *,
    recorder: Callable[[Plan], RunCounts] | None = None,
    check_queue: bool = False,
    plain: PlainDay | None = None,
) -> int:
    """Run every plan's agent alone; return the events. `progress(done)` every 1,000;
    `recorder(plan)` picks each agent's counts (a sample's replicate group), else `counts`;
    `check_queue` raises `WouldQueue` as soon as a check finds a request that waited;
    `plain` runs each plain day without the agent (`sim.plainday`, same counts; its
    records are flushed before each agent, each check and the end)."""
    timeline = Timeline()
    events = 0
    check_at = FIRST_QUEUE_CHECK if check_queue else -1
    fast = plain if plain is not None and any(plain.allowed) else None
    for done, plan in enumerate(_prepared(plans, fast), 1):
        mine = counts if recorder is None else recorder(plan)
        taken = None if fast is None else fast.run(plan, mine)
        if taken is None:
            if fast is not None:
                fast.flush()  # the plain days' records first, in the agent's order
            timeline.t = 0.0
            agent = Agent(model, plan, mine, timeline.now, renew=True)
            taken = run_alone(agent, server, timeline)
        events += taken
        if progress is not None and done % 1000 == 0:
            progress(done)
        if done == check_at:
            if fast is not None:
                fast.flush()
            if not server.queue_free():
                raise WouldQueue(done)
            check_at *= 2
    if fast is not None:
        fast.flush()
    return events


def _prepared(plans: Iterable[Plan], fast: PlainDay | None) -> Iterator[Plan]:
    """The plans, a chunk at a time, each chunk `prepare`d for the plain day first."""
    if fast is None:
        yield from plans
        return
    for chunk in chunks(plans):
        fast.prepare(chunk)
        yield from chunk
