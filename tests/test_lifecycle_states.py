"""The lifecycle's explicit state: every move in the transition table, legal and illegal.

As h11's tests walk `EVENT_TRIGGERED_TRANSITIONS`, these walk `TRANSITIONS`: a scripted
instance is driven into each state by hand, every trigger is tried there, and the move
must either be listed in the table (and land in a listed state) or raise `LifecycleError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from dcrload.core.actions import (
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    AppUpdated,
    CallApi,
    CredentialsLost,
    Failure,
    FetchToken,
    Reauthenticate,
    Reauthenticated,
    Register,
    Response,
)
from dcrload.core.errors import LifecycleError
from dcrload.core.lifecycle import QUIET_EVENTS, TRANSITIONS, AppInstance, InstanceConfig, State
from dcrload.core.retry import NoRetry
from dcrload.core.strategies import FixedLead

TTL = 3600.0
CREDENTIALS = Response(201, {"client_id": "c1", "client_secret": "s1"})
TOKEN = Response(201, {"access_token": "t1", "expires_in": TTL})


def fresh(antipattern: str = "none") -> AppInstance:
    config = InstanceConfig(
        refresh=FixedLead(lead=300.0),
        platform="tv",
        retry=NoRetry(),
        antipattern=antipattern,  # type: ignore[arg-type]
    )
    return AppInstance(config, "statement", "app", rng=random.Random(1))


def registering() -> AppInstance:
    inst = fresh()
    inst.handle(AppLaunched(), 0.0)
    assert isinstance(inst.next_action(0.0), Register)
    return inst


def registered() -> AppInstance:
    inst = registering()
    inst.handle(CREDENTIALS, 0.0)
    return inst


def fetching() -> AppInstance:
    inst = registered()
    inst.handle(ApiCallDue(), 0.0)
    assert isinstance(inst.next_action(0.0), FetchToken)
    return inst


def ready() -> AppInstance:
    inst = fetching()
    inst.handle(TOKEN, 0.0)
    return inst


def calling() -> AppInstance:
    inst = ready()
    assert isinstance(inst.next_action(0.0), CallApi)
    return inst


def reauthenticating() -> AppInstance:
    inst = ready()
    inst.handle(Response(200), 0.0) if inst.awaiting else None
    inst.handle(CredentialsLost(), 1.0)
    inst.handle(ApiCallDue(), 1.0)
    assert isinstance(inst.next_action(1.0), Register)
    inst.handle(Response(201, {"client_id": "c2", "client_secret": "s2"}), 1.0)
    assert isinstance(inst.next_action(1.0), FetchToken)
    inst.handle(TOKEN, 1.0)
    assert isinstance(inst.next_action(1.0), Reauthenticate)
    return inst


def blocked() -> AppInstance:
    inst = registering()
    inst.handle(Response(400, {"error": "unapproved_software_statement"}), 0.0)
    return inst


REACH: dict[State, Callable[[], AppInstance]] = {
    State.UNREGISTERED: fresh,
    State.REGISTERING: registering,
    State.REGISTERED: registered,
    State.FETCHING: fetching,
    State.READY: ready,
    State.CALLING: calling,
    State.REAUTHENTICATING: reauthenticating,
    State.BLOCKED: blocked,
}

EVENTS: dict[str, Any] = {
    "ApiCallDue": ApiCallDue(),
    "AppBackgrounded": AppBackgrounded(),
    "AppLaunched": AppLaunched(),
    "CredentialsLost": CredentialsLost(),
    "AppUpdated": AppUpdated("statement-2", "app-2"),
}


def test_every_state_is_reachable_and_is_what_it_says() -> None:
    for state, reach in REACH.items():
        inst = reach()
        assert inst.state is state, state
    assert ready().credentials is not None and ready().token is not None
    assert blocked().blocked is not None


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
@pytest.mark.parametrize("trigger", sorted(EVENTS))
def test_each_event_in_each_state_is_listed_or_refused(state: State, trigger: str) -> None:
    inst = REACH[state]()
    listed = TRANSITIONS.get((state, trigger))
    quiet_ok = trigger in QUIET_EVENTS and inst.awaiting is None
    if listed is None and not quiet_ok:
        with pytest.raises(LifecycleError):
            inst.handle(EVENTS[trigger], 5.0)
        return
    inst.handle(EVENTS[trigger], 5.0)
    if listed is None:
        assert inst.state is state  # a quiet event never moves the state
    else:
        assert inst.state in listed


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_an_answer_is_legal_only_while_a_request_is_pending(state: State) -> None:
    inst = REACH[state]()
    answer: Any = Reauthenticated() if state is State.REAUTHENTICATING else Failure("timeout")
    if (state, "answer") in TRANSITIONS or (state, "Reauthenticated") in TRANSITIONS:
        inst.handle(answer, 5.0)
        allowed = TRANSITIONS.get((state, "answer")) or TRANSITIONS[(state, "Reauthenticated")]
        assert inst.state in allowed
    else:
        with pytest.raises(LifecycleError):
            inst.handle(Failure("timeout"), 5.0)


@pytest.mark.parametrize("state", list(State), ids=lambda s: s.name)
def test_asking_again_while_a_request_is_pending_is_refused(state: State) -> None:
    inst = REACH[state]()
    if inst.awaiting is None:
        inst.next_action(5.0)  # legal wherever nothing is pending
    else:
        with pytest.raises(LifecycleError):
            inst.next_action(5.0)


def test_every_action_start_in_the_table_happens() -> None:
    """Each (state, action) start listed is one the lifecycle really takes."""
    starts = {key for key in TRANSITIONS if key[1] in ("Register", "FetchToken", "CallApi")}
    seen = {
        (State.UNREGISTERED, "Register"),
        (State.REGISTERED, "FetchToken"),
        (State.READY, "CallApi"),
        (State.READY, "Reauthenticate"),
    }
    inst = ready()  # a token past its refresh time: READY → FETCHING
    assert isinstance(inst.next_action(TTL - 10.0), FetchToken)
    seen.add((State.READY, "FetchToken"))
    bad = fresh("reregister_on_refresh")
    bad.handle(AppLaunched(), 0.0)
    bad.next_action(0.0)
    bad.handle(CREDENTIALS, 0.0)
    bad.handle(ApiCallDue(), 0.0)
    bad.next_action(0.0)
    bad.handle(TOKEN, 0.0)
    bad.handle(Response(200), 0.0) if bad.awaiting else None
    assert bad.state is State.READY
    assert isinstance(bad.next_action(TTL - 10.0), Register)
    seen.add((State.READY, "Register"))
    assert starts <= seen


def test_a_bulk_report_is_what_stepping_the_calls_one_by_one_does() -> None:
    stepped, bulk = ready(), ready()
    for t in (10.0, 20.0, 30.0):
        stepped.handle(ApiCallDue(), t)
        assert isinstance(stepped.next_action(t), CallApi)
        stepped.handle(Response(200), t)
    bulk.api_calls_succeeded(3, 30.0)
    for name in ("requests_sent", "retries", "failed_api_calls", "state"):
        assert getattr(stepped, name) == getattr(bulk, name), name
    with pytest.raises(LifecycleError):
        registered().api_calls_succeeded(1, 1.0)  # no token: no call could have gone out
    with pytest.raises(LifecycleError):
        fresh("no_token_cache").api_calls_succeeded(1, 1.0)
