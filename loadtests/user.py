"""`DcrUser`: a Locust user that plays app instances of the scenario's fleet.

A user is a unit of concurrency: its one task takes the earliest due agent of its process's
`loadtests.driver.LocustDriver`, performs what the agent asks for with this user's
FastHttpSession, and puts the agent back; `wait_time` is the time until the next agent is
due. So the load shape can add and remove users without any instance being lost or played
twice.
"""

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, task
from locust.exception import StopUser

from loadtests.run import replay_of


class DcrUser(FastHttpUser):
    """Plays the instances of the fleet (see `loadtests.driver`), many per user."""

    network_timeout = 10.0
    connection_timeout = 10.0
    concurrency = 1

    def __init__(self, environment: Any) -> None:
        replay = replay_of(environment)
        self.network_timeout = self.connection_timeout = replay.timeout()
        super().__init__(environment)
        self.fleet = replay.fleet_or_build()

    def wait_time(self) -> float:
        return self.fleet.pause()

    @task
    def step(self) -> None:
        fleet = self.fleet
        client = self.client
        for _ in range(100):  # work off what is due before sleeping again
            if not fleet.step(client):
                break
        if fleet.finished:
            raise StopUser()
