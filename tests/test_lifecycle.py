"""`dcrload.core.lifecycle`: one app instance stepped by hand, rule by rule of the FAQ.

Each test plays the driver: it asks `next_action(now)`, checks what the lifecycle wants,
and feeds a hand-written `Response` back, the way httpx's tests step an auth flow with
`next()`/`send()`. `FakeService` is a minimal DCR service for the longer walks.
"""

from __future__ import annotations

import base64
import json
import math
import random
from typing import Any

import pytest

from dcrload.core.actions import (
    ApiCallDue,
    AppBackgrounded,
    AppLaunched,
    AppUpdated,
    Blocked,
    CallApi,
    CredentialsLost,
    FetchToken,
    Reauthenticate,
    Reauthenticated,
    Register,
    Response,
    Wait,
)
from dcrload.core.clocks import PERFECT, DeviceClock
from dcrload.core.errors import LifecycleError
from dcrload.core.lifecycle import AppInstance, InstanceConfig
from dcrload.core.retry import FixedDelay, NoRetry
from dcrload.core.strategies import AdvisoryMandatory, FixedLead, Reactive

STATEMENT = "eyJhbGciOiJSUzI1NiJ9.eyJzb2Z0d2FyZV9pZCI6ImFwcCJ9.c2ln"
"""The software statement embedded in the app (a JWT; the lifecycle never opens it)."""
SOFTWARE_ID = "app"
NEW_STATEMENT = "eyJhbGciOiJSUzI1NiJ9.eyJzb2Z0d2FyZV9pZCI6ImFwcDIifQ.c2ln"
TTL = 3600.0
LEAD = 300.0


def make(
    *,
    platform: str = "tv",
    refresh: Any = None,
    basis: str = "expires_in",
    clock: DeviceClock = PERFECT,
    retry: Any = None,
    antipattern: str = "none",
    seed: int = 7,
) -> AppInstance:
    config = InstanceConfig(
        refresh=refresh if refresh is not None else FixedLead(lead=LEAD),
        basis=basis,  # type: ignore[arg-type]
        platform=platform,  # type: ignore[arg-type]
        retry=retry if retry is not None else NoRetry(),
        antipattern=antipattern,  # type: ignore[arg-type]
    )
    return AppInstance(config, STATEMENT, SOFTWARE_ID, clock=clock, rng=random.Random(seed))


def credentials(n: int = 1) -> Response:
    return Response(201, {"client_id": f"client-{n}", "client_secret": f"secret-{n}"})


def token(value: str = "token-1", expires_in: float = TTL, **extra: Any) -> Response:
    return Response(
        201, {"access_token": value, "token_type": "bearer", "expires_in": expires_in, **extra}
    )


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def first_launch(inst: AppInstance, now: float, response: Response | None = None) -> None:
    """Open the app for the first time and make its first API call: register, token, call."""
    inst.handle(AppLaunched(), now)
    inst.handle(ApiCallDue("configuration"), now)
    assert isinstance(inst.next_action(now), Register)
    inst.handle(credentials(), now)
    assert isinstance(inst.next_action(now), FetchToken)
    inst.handle(response or token(), now)
    assert isinstance(inst.next_action(now), CallApi)
    inst.handle(Response(200, {}), now)


def installed(now: float = 0.0, **kwargs: Any) -> AppInstance:
    """An instance launched at `now` that registered and got a TTL token (still foreground)."""
    inst = make(**kwargs)
    first_launch(inst, now)
    return inst


class FakeService:
    """Answers requests like the DCR service: new credentials, TTL tokens, 401 once expired."""

    def __init__(self, ttl: float = TTL) -> None:
        self.ttl = ttl
        self.sent: list[tuple[float, Any]] = []
        self.clients = 0
        self.tokens: dict[str, float] = {}

    def answer(self, action: Any, now: float) -> Response:
        self.sent.append((now, action))
        if isinstance(action, Register):
            self.clients += 1
            return credentials(self.clients)
        if isinstance(action, FetchToken):
            value = f"token-{len(self.tokens) + 1}"
            self.tokens[value] = now + self.ttl
            return token(value, self.ttl)
        assert isinstance(action, CallApi)
        if now >= self.tokens.get(action.access_token, -math.inf):
            return Response(401, {"error": {"code": "invalid_access_token", "status": 401}})
        return Response(200, {})

    def step(self, inst: AppInstance, now: float) -> Any:
        """Perform every action due at `now`; return the Wait or Blocked that ends the burst."""
        for _ in range(20):
            action = inst.next_action(now)
            if isinstance(action, Wait | Blocked):
                return action
            if isinstance(action, Reauthenticate):
                self.sent.append((now, action))
                inst.handle(Reauthenticated(), now)
            else:
                inst.handle(self.answer(action, now), now)
        raise AssertionError("the lifecycle never waited")

    def kinds(self) -> list[str]:
        return [type(action).__name__ for _, action in self.sent]


# --------------------------------------------------------------- FAQ 1, 6, 7: register once


def test_nothing_happens_before_the_app_is_first_opened() -> None:
    inst = make()
    assert inst.next_action(0.0) == Wait(math.inf)
    assert inst.awaiting is None


def test_first_launch_registers_with_the_embedded_statement_then_fetches_a_token() -> None:
    inst = make()
    inst.handle(AppLaunched(), 10.0)
    inst.handle(ApiCallDue("configuration"), 10.0)
    assert inst.next_action(10.0) == Register(STATEMENT, SOFTWARE_ID)
    inst.handle(credentials(), 10.0)
    assert inst.next_action(10.0) == FetchToken("client-1", "secret-1")
    inst.handle(token(), 10.0)
    assert inst.next_action(10.0) == CallApi("configuration", "token-1")
    inst.handle(Response(200, {}), 10.0)
    assert inst.next_action(10.0) == Wait(10.0 + TTL - LEAD)
    assert inst.registrations == 1
    assert inst.reauthentications == 0


def test_credentials_are_kept_through_many_refreshes() -> None:
    service = FakeService()
    inst = make(platform="tv")
    inst.handle(AppLaunched(), 0.0)
    inst.handle(ApiCallDue(), 0.0)
    now, refreshes = 0.0, 48
    wait = service.step(inst, now)
    inst.handle(AppBackgrounded(), now)
    for _ in range(refreshes):
        assert isinstance(wait, Wait) and now < wait.until < math.inf
        now = wait.until
        wait = service.step(inst, now)
    assert service.kinds() == ["Register", "FetchToken", "CallApi"] + ["FetchToken"] * refreshes
    fetches = [action for _, action in service.sent if isinstance(action, FetchToken)]
    assert set(fetches) == {FetchToken("client-1", "secret-1")}
    assert inst.registrations == 1
    assert service.clients == 1
    assert now == pytest.approx(refreshes * (TTL - LEAD))


def test_refresh_is_the_token_call_with_cached_credentials_never_a_register() -> None:
    inst = installed()
    inst.handle(AppBackgrounded(), 1.0)
    due = TTL - LEAD
    assert inst.next_action(due) == FetchToken("client-1", "secret-1")


def test_reregister_on_refresh_antipattern_is_the_only_way_to_register_to_refresh() -> None:
    inst = installed(antipattern="reregister_on_refresh")
    assert inst.next_action(TTL - LEAD) == Register(STATEMENT, SOFTWARE_ID)


# --------------------------------------------------------------- FAQ 2: warm launch


@pytest.mark.parametrize("platform", ["mobile", "tv", "server"])
def test_launch_with_cached_credentials_and_a_valid_token_sends_nothing(platform: str) -> None:
    inst = installed(platform=platform)
    inst.handle(AppBackgrounded(), 60.0)
    inst.handle(AppLaunched(), 1800.0)
    action = inst.next_action(1800.0)
    assert isinstance(action, Wait)
    assert action.until > 1800.0
    assert inst.awaiting is None
    assert inst.token_usable(1800.0)
    # The first API call goes straight out on the cached token.
    inst.handle(ApiCallDue("configuration"), 1800.0)
    assert inst.next_action(1800.0) == CallApi("configuration", "token-1")


def test_launch_with_cached_credentials_and_an_expired_token_fetches_with_them() -> None:
    inst = installed(platform="mobile")
    inst.handle(AppBackgrounded(), 60.0)
    inst.handle(AppLaunched(), 5 * TTL)
    assert inst.next_action(5 * TTL) == FetchToken("client-1", "secret-1")
    inst.handle(token("token-2"), 5 * TTL)
    inst.handle(ApiCallDue("profiles"), 5 * TTL)
    assert inst.next_action(5 * TTL) == CallApi("profiles", "token-2")
    assert inst.registrations == 1


# --------------------------------------------------------------- FAQ 8: lost credentials


def test_lost_credentials_register_again_fetch_a_token_then_reauthenticate() -> None:
    service = FakeService()
    inst = make()
    inst.handle(AppLaunched(), 0.0)
    inst.handle(ApiCallDue(), 0.0)
    service.step(inst, 0.0)
    inst.handle(CredentialsLost(), 100.0)
    assert inst.credentials is None and inst.token is None
    inst.handle(ApiCallDue("profiles"), 100.0)
    service.step(inst, 100.0)
    assert service.kinds()[3:] == ["Register", "FetchToken", "Reauthenticate", "CallApi"]
    assert service.sent[4][1] == FetchToken("client-2", "secret-2")
    # Once the user logged in again, the API call goes out on the new token.
    assert service.sent[6][1] == CallApi("profiles", "token-2")
    assert inst.registrations == 2
    assert inst.reauthentications == 1


def test_lost_credentials_in_the_background_wait_for_the_user() -> None:
    inst = installed(platform="tv")
    inst.handle(AppBackgrounded(), 10.0)
    inst.handle(CredentialsLost(), 20.0)
    assert inst.next_action(20.0) == Wait(math.inf)
    inst.handle(AppLaunched(), 500.0)
    assert inst.next_action(500.0) == Register(STATEMENT, SOFTWARE_ID)


def test_invalid_client_on_token_registers_again_and_reauthenticates() -> None:
    inst = installed(platform="tv")
    inst.handle(AppBackgrounded(), 10.0)
    due = TTL - LEAD
    assert inst.next_action(due) == FetchToken("client-1", "secret-1")
    inst.handle(Response(401, {"error": "invalid_client"}), due)
    assert inst.credentials is None
    inst.handle(AppLaunched(), due + 60)
    inst.handle(ApiCallDue(), due + 60)
    service = FakeService()
    service.clients = 1
    service.step(inst, due + 60)
    assert service.kinds() == ["Register", "FetchToken", "Reauthenticate", "CallApi"]
    assert service.sent[1][1] == FetchToken("client-2", "secret-2")
    assert inst.registrations == 2
    assert inst.reauthentications == 1


# --------------------------------------------------------------- FAQ 3, 5: refused statement


def test_refused_statement_blocks_until_an_update_brings_a_new_one() -> None:
    inst = make(platform="mobile")
    inst.handle(AppLaunched(), 0.0)
    assert inst.next_action(0.0) == Register(STATEMENT, SOFTWARE_ID)
    inst.handle(Response(400, {"error": "unapproved_software_statement"}), 0.0)
    assert isinstance(inst.next_action(0.0), Blocked)
    # Neither time, nor relaunching, nor wanting to play unblocks it.
    inst.handle(AppBackgrounded(), 100.0)
    inst.handle(AppLaunched(), 86400.0)
    inst.handle(ApiCallDue(), 86400.0)
    assert isinstance(inst.next_action(86400.0), Blocked)
    assert inst.credentials is None
    inst.handle(AppUpdated(NEW_STATEMENT, "app-2"), 90000.0)
    inst.handle(ApiCallDue(), 90000.0)
    assert inst.next_action(90000.0) == Register(NEW_STATEMENT, "app-2")
    inst.handle(credentials(), 90000.0)
    assert inst.next_action(90000.0) == FetchToken("client-1", "secret-1")
    assert inst.reauthentications == 0  # never registered before: nobody to log in again


def test_revoked_client_of_a_running_install_is_blocked_until_update() -> None:
    inst = installed(platform="tv")
    inst.handle(AppBackgrounded(), 10.0)
    due = TTL - LEAD
    assert isinstance(inst.next_action(due), FetchToken)
    inst.handle(Response(400, {"error": "unauthorized_client"}), due)
    assert isinstance(inst.next_action(due + 1), Blocked)
    inst.handle(AppUpdated(NEW_STATEMENT, "app-2"), due + 3600)
    inst.handle(AppLaunched(), due + 3600)
    assert inst.next_action(due + 3600) == Register(NEW_STATEMENT, "app-2")


# --------------------------------------------------------------- FAQ 9: 401 on an API call


def test_401_on_an_api_call_refreshes_then_retries_the_call() -> None:
    inst = installed(platform="mobile")
    inst.handle(ApiCallDue("profiles"), 600.0)
    assert inst.next_action(600.0) == CallApi("profiles", "token-1")
    inst.handle(Response(401, {"error": {"code": "invalid_access_token"}}), 600.0)
    assert inst.next_action(600.0) == FetchToken("client-1", "secret-1")
    inst.handle(token("token-2"), 600.0)
    assert inst.next_action(600.0) == CallApi("profiles", "token-2")
    inst.handle(Response(200, {}), 600.0)
    assert isinstance(inst.next_action(600.0), Wait)
    assert inst.failed_api_calls == 0
    assert inst.registrations == 1


def test_reactive_client_refreshes_an_expired_token_before_the_call() -> None:
    inst = installed(platform="tv", refresh=Reactive())
    assert inst.next_action(1.0) == Wait(math.inf)  # no timer at all
    inst.handle(ApiCallDue(), TTL + 5)
    assert inst.next_action(TTL + 5) == FetchToken("client-1", "secret-1")


# --------------------------------------------------------------- protocol misuse


def test_asking_again_while_a_request_is_pending_is_a_driver_bug() -> None:
    inst = make()
    inst.handle(AppLaunched(), 0.0)
    action = inst.next_action(0.0)
    assert inst.awaiting == action
    with pytest.raises(LifecycleError):
        inst.next_action(0.0)


def test_a_response_nobody_asked_for_is_a_driver_bug() -> None:
    inst = make()
    with pytest.raises(LifecycleError):
        inst.handle(Response(201, {}), 0.0)
    inst = installed()
    assert isinstance(inst.next_action(1.0), Wait)
    with pytest.raises(LifecycleError):
        inst.handle(token("token-2"), 1.0)


def test_reauthenticated_cannot_answer_a_request() -> None:
    inst = make()
    inst.handle(AppLaunched(), 0.0)
    inst.next_action(0.0)
    with pytest.raises(LifecycleError):
        inst.handle(Reauthenticated(), 0.0)


# --------------------------------------------------------------- platforms


def test_mobile_never_refreshes_in_the_background() -> None:
    inst = installed(platform="mobile")
    inst.handle(AppBackgrounded(), 60.0)
    for now in (61.0, TTL - LEAD, TTL, 10 * TTL):
        assert inst.next_action(now) == Wait(math.inf)
    inst.handle(AppLaunched(), 10 * TTL)
    assert inst.next_action(10 * TTL) == FetchToken("client-1", "secret-1")


def test_mobile_in_the_foreground_refreshes_on_its_timer() -> None:
    inst = installed(platform="mobile")
    assert inst.next_action(1.0) == Wait(TTL - LEAD)
    assert inst.next_action(TTL - LEAD) == FetchToken("client-1", "secret-1")


@pytest.mark.parametrize("platform", ["tv", "server"])
def test_background_timer_wakes_at_the_refresh_time(platform: str) -> None:
    inst = installed(platform=platform)
    inst.handle(AppBackgrounded(), 60.0)
    assert inst.next_action(60.0) == Wait(TTL - LEAD)
    assert inst.next_action(TTL - LEAD - 1) == Wait(TTL - LEAD)
    assert inst.next_action(TTL - LEAD) == FetchToken("client-1", "secret-1")


# --------------------------------------------------------------- expiry basis and clocks


def _with_token(basis: str, clock: DeviceClock, response: Response) -> AppInstance:
    inst = make(platform="tv", basis=basis, clock=clock)
    first_launch(inst, 0.0, response)
    inst.handle(AppBackgrounded(), 0.0)
    return inst


BEHIND = DeviceClock(offset=-600.0)
AHEAD = DeviceClock(offset=600.0)
JWT_TOKEN = token(jwt({"sub": "client-1", "iat": 0, "nbf": 0, "exp": int(TTL)}))


def test_exp_basis_reads_the_jwt_claim_and_a_clock_behind_refreshes_late() -> None:
    inst = _with_token("exp", BEHIND, JWT_TOKEN)
    assert inst.next_action(1.0) == Wait(TTL - LEAD + 600.0)
    # Past the real expiry the device still thinks the token is good and uses it.
    inst.handle(ApiCallDue(), TTL + 60)
    action = inst.next_action(TTL + 60)
    assert isinstance(action, CallApi)
    assert action.access_token == JWT_TOKEN.body["access_token"]


def test_exp_basis_with_a_clock_ahead_refreshes_early() -> None:
    inst = _with_token("exp", AHEAD, JWT_TOKEN)
    assert inst.next_action(1.0) == Wait(TTL - LEAD - 600.0)


def test_exp_basis_without_a_jwt_uses_created_at_plus_expires_in() -> None:
    opaque = token("opaque-token", created_at=0)
    inst = _with_token("exp", BEHIND, opaque)
    assert inst.next_action(1.0) == Wait(TTL - LEAD + 600.0)
    later = token("opaque-token", created_at=1_000_000)  # issued 1000 s into server time
    inst = _with_token("exp", PERFECT, later)
    assert inst.next_action(1.0) == Wait(1000.0 + TTL - LEAD)


@pytest.mark.parametrize("clock", [PERFECT, BEHIND, AHEAD], ids=["perfect", "behind", "ahead"])
def test_expires_in_basis_ignores_the_wall_clock_offset(clock: DeviceClock) -> None:
    inst = _with_token("expires_in", clock, JWT_TOKEN)
    assert inst.next_action(1.0) == Wait(TTL - LEAD)


# --------------------------------------------------------------- advisory / mandatory


def _botocore(retry: Any) -> AppInstance:
    return installed(platform="mobile", refresh=AdvisoryMandatory(), retry=retry)


def test_failed_refresh_in_the_mandatory_window_never_falls_back_on_the_old_token() -> None:
    inst = _botocore(FixedDelay(wait=30.0, attempts=1))
    mandatory = TTL - 600.0
    inst.handle(ApiCallDue(), mandatory + 60)
    assert isinstance(inst.next_action(mandatory + 60), FetchToken)
    inst.handle(Response(503, {}), mandatory + 60)
    assert inst.next_action(mandatory + 60) == Wait(mandatory + 90)


def test_failed_refresh_in_the_advisory_window_keeps_the_old_token() -> None:
    inst = _botocore(FixedDelay(wait=30.0, attempts=1))
    advisory = TTL - 900.0
    inst.handle(ApiCallDue(), advisory + 60)
    assert isinstance(inst.next_action(advisory + 60), FetchToken)
    inst.handle(Response(503, {}), advisory + 60)
    assert inst.next_action(advisory + 60) == CallApi("configuration", "token-1")


def test_failed_refresh_in_the_advisory_window_keeps_the_old_token_without_retries() -> None:
    inst = _botocore(NoRetry())
    advisory = TTL - 900.0
    inst.handle(ApiCallDue(), advisory + 60)
    assert isinstance(inst.next_action(advisory + 60), FetchToken)
    inst.handle(Response(503, {}), advisory + 60)
    assert inst.next_action(advisory + 60) == CallApi("configuration", "token-1")
    assert inst.failed_api_calls == 0
