"""Replay a dcrload scenario's fleet against a DCR service with Locust.

    locust -f loadtests/locustfile.py --web-host 127.0.0.1 --scenario scenarios/default.toml \
        --host http://127.0.0.1:8000
    locust -f loadtests/locustfile.py --scenario ... --host URL --headless --csv out/locust

Each `DcrUser` plays many app instances of the scenario's fleet through the very lifecycle
the simulation runs (`dcrload.core.lifecycle`), over Locust's FastHttpUser client, so every
request appears in Locust's statistics as ``register``, ``token`` or ``api:<route>``.
`ScenarioShape` follows the scenario's active instances over time; time is compressed by
``[loadtest] time_scale``. Flags (described in `loadtests.options`; Locust's ``--help``
does not list them): ``--scenario``, ``--dcr-set``, ``--dcr-duration``, ``--time-scale``,
``--dcr-statements`` / ``--software-statement``, ``--dcr-admin-key`` (the mock's:
revocations and outages at their scaled times), ``--dcr-out`` (measured.json for
`dcrload loadtest`).
Master/worker mode partitions the instances by worker index. ``python
loadtests/locustfile.py --scenario FILE --host URL`` debugs one user (`run_single_user`).
"""

from __future__ import annotations

from typing import Any

from locust import events, run_single_user  # first: Locust patches the standard library

from loadtests.options import add_arguments
from loadtests.run import replay_of
from loadtests.shape import ScenarioShape
from loadtests.user import DcrUser

__all__ = ["DcrUser", "ScenarioShape"]


@events.init_command_line_parser.add_listener
def _flags(parser: Any) -> None:
    add_arguments(parser)


@events.test_start.add_listener
def _test_start(environment: Any, **_kwargs: Any) -> None:
    replay_of(environment).test_start()


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any]) -> None:
    for replay in _replays:
        replay.report_to_master(data)


@events.worker_report.add_listener
def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    for replay in _replays:
        replay.worker_report(client_id, data)


@events.init.add_listener
def _init(environment: Any, **_kwargs: Any) -> None:
    _replays.append(replay_of(environment))


@events.quitting.add_listener
def _quitting(environment: Any, **_kwargs: Any) -> None:
    replay_of(environment).quitting()


_replays: list[Any] = []
"""The replay of this process's environment (report events do not carry it)."""


if __name__ == "__main__":
    run_single_user(DcrUser)
