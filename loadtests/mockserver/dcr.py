"""The two DCR routes: Client Register and Client Token, in both profiles.

``adobe-pass``: register answers 201 with ``client_id``, ``client_secret``,
``client_id_issued_at`` (seconds), ``redirect_uris``, ``grant_types``, ``scopes``; the
token route answers 201 with ``access_token``, ``token_type`` ("bearer"), ``expires_in``
(seconds), ``created_at`` (milliseconds) and ``id``. ``X-Device-Info`` is required on both.
Every token error is a 400.

The adobe-pass token answer's 201 is what the real service sends, but RFC 6749 section
5.1 says 200: standards-strict clients refuse it (oauth4webapi and openid-client fail with
"unexpected HTTP status code"). Use the rfc7591 profile for such clients.

``rfc7591``: register takes client metadata and answers 201 with the metadata echoed and
``client_secret_expires_at: 0``; with the ``open_registration`` setting a body without a
``software_statement`` registers too (one that has a statement must still pass it). The
token route answers 200 (RFC 6749) with ``access_token`` (an RFC 9068 JWT),
``token_type`` ("Bearer"), ``expires_in``, ``scope``; ``invalid_client`` is a 401.
Clients authenticate with the method they registered (``client_secret_basic`` by default,
as RFC 7591 says).

Either route accepts credentials in the form (``client_secret_post``) or in a Basic header,
never both. An unknown client and a wrong secret get byte-identical answers, and a digest is
computed and compared in both cases so their timing matches too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import unquote_plus

from loadtests.mockserver.bodies import BadInput, parse_form, parse_json_object, split_url
from loadtests.mockserver.calls import Call
from loadtests.mockserver.responses import NO_STORE_RAW, Answer, json_answer, oauth_error
from loadtests.mockserver.state import MockState
from loadtests.mockserver.statements import StatementError, verify_statement
from loadtests.mockserver.store import Client

_DUMMY_DIGEST = hashlib.sha256(b"no such client").digest()
AUTH_METHODS = ("client_secret_basic", "client_secret_post")
MAX_REDIRECT_URIS = 16


def _media_type(call: Call) -> bytes:
    return call.headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()


def _bad(code: str, description: str) -> Answer:
    return oauth_error(400, code, description)


class DcrRoutes:
    def __init__(self, state: MockState) -> None:
        self.state = state
        self.adobe = state.settings.profile == "adobe-pass"

    # ------------------------------------------------------------------ register

    def register(self, call: Call) -> Answer:
        state = self.state
        if self.adobe and not call.headers.get(b"x-device-info"):
            return _bad("invalid_request", "The X-Device-Info header is required.")
        if _media_type(call) != b"application/json":
            return _bad("invalid_request", "The content type must be application/json.")
        try:
            body = parse_json_object(call.body)
        except BadInput as error:
            return _bad("invalid_request", str(error))
        statement = body.get("software_statement")
        open_registration = state.settings.open_registration and statement is None
        if not open_registration and (not isinstance(statement, str) or not statement):
            return _bad("invalid_request", "software_statement is required.")
        redirect_uris = self._redirect_uris(body)
        if redirect_uris is None:
            return _bad("invalid_redirect_uri", "The redirect URI is not valid.")
        metadata: dict[str, Any] = {"redirect_uris": redirect_uris}
        if not self.adobe:
            error = self._client_metadata(body, metadata)
            if error is not None:
                return error
        claims: dict[str, Any] = {"software_id": ""}  # open registration: nothing to revoke
        if not open_registration:
            try:
                claims = verify_statement(
                    statement,
                    state.keys,
                    state.settings.statement_typ,
                    state.store.revoked,
                    state.clock,
                )
            except StatementError as refused:
                return _bad(refused.code, refused.description)

        secret = secrets.token_urlsafe(32)  # 256 bits
        now = int(state.clock())
        client = Client(
            client_id=secrets.token_urlsafe(18),
            secret_sha256=hashlib.sha256(secret.encode()).digest(),
            software_id=claims["software_id"],
            issued_at=now,
            metadata=metadata,
        )
        state.store.add_client(client)
        state.stats.clients_registered += 1
        answer: dict[str, Any] = {
            "client_id": client.client_id,
            "client_secret": secret,
            "client_id_issued_at": now,
            "redirect_uris": redirect_uris,
            "grant_types": ["client_credentials"],
        }
        if self.adobe:
            answer["scopes"] = list(state.settings.scopes)
        else:
            answer.update(metadata)
            answer["client_secret_expires_at"] = 0
            if claims["software_id"]:
                answer["software_id"] = claims["software_id"]
            if "software_version" in claims:
                answer["software_version"] = claims["software_version"]
        status = 200 if "register-200" in state.quirks else 201
        return json_answer(status, answer, NO_STORE_RAW)

    @staticmethod
    def _redirect_uris(body: dict[str, Any]) -> list[str] | None:
        given: Any = body.get("redirect_uris", [])
        if "redirect_uri" in body:
            given = [body["redirect_uri"]]
        if not isinstance(given, list):
            return None
        if len(given) > MAX_REDIRECT_URIS:
            return None
        for uri in given:
            if not isinstance(uri, str):
                return None
            parts = split_url(uri)
            if parts is None or not parts.scheme:
                return None
            if parts.scheme in ("http", "https") and not parts.netloc:
                return None
            if parts.fragment:
                return None
        return list(given)

    @staticmethod
    def _client_metadata(body: dict[str, Any], metadata: dict[str, Any]) -> Answer | None:
        name = body.get("client_name", "")
        grants = body.get("grant_types", ["client_credentials"])
        method = body.get("token_endpoint_auth_method", "client_secret_basic")
        if not isinstance(name, str):
            return _bad("invalid_client_metadata", "client_name must be a string.")
        if not isinstance(grants, list) or grants != ["client_credentials"]:
            return _bad("invalid_client_metadata", "grant_types must be ['client_credentials'].")
        if method not in AUTH_METHODS:
            return _bad("invalid_client_metadata", "Unsupported token_endpoint_auth_method.")
        metadata.update(client_name=name, grant_types=grants, token_endpoint_auth_method=method)
        return None

    # ------------------------------------------------------------------ token

    def token(self, call: Call) -> Answer:
        state = self.state
        if self.adobe and not call.headers.get(b"x-device-info"):
            return _bad("invalid_request", "The X-Device-Info header is required.")
        if _media_type(call) != b"application/x-www-form-urlencoded":
            return _bad("invalid_request", "The content type must be a form.")
        try:
            pairs = parse_form(call.body)
        except BadInput:
            return _bad("invalid_request", "The body is not a valid form.")
        form = dict(pairs)
        if len(form) != len(pairs):
            return _bad("invalid_request", "A parameter is repeated.")
        grant_type = form.get("grant_type")
        if not grant_type:
            return _bad("invalid_request", "grant_type is required.")

        authorization = call.headers.get(b"authorization")
        if authorization is not None:
            if "client_id" in form or "client_secret" in form:
                return _bad("invalid_request", "Use one client authentication method only.")
            basic = _parse_basic(authorization.decode("latin-1"))
            if basic is None:
                return self._invalid_client(True)
            client_id, secret = basic
            method = "client_secret_basic"
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
            if not client_id or not secret:
                return _bad("invalid_request", "client_id and client_secret are required.")
            method = "client_secret_post"

        client = state.store.client(client_id)
        digest = hashlib.sha256(secret.encode()).digest()
        expected = client.secret_sha256 if client is not None else _DUMMY_DIGEST
        registered = client.metadata.get("token_endpoint_auth_method") if client else None
        if (
            not hmac.compare_digest(digest, expected)
            or client is None
            or (registered is not None and registered != method)
        ):
            return self._invalid_client(authorization is not None)
        if grant_type != "client_credentials":
            return _bad("unsupported_grant_type", "Only client_credentials is supported.")
        if client.software_id in state.store.revoked:
            return _bad("unauthorized_client", "The client's software statement is revoked.")

        lifetime = state.token_lifetime()
        quirks = state.quirks
        exp_offset = 2 * lifetime if "exp-mismatch" in quirks else None
        token, jti, _iat = state.issuer.issue(client_id, lifetime, exp_offset)
        state.stats.tokens_issued += 1
        if self.adobe:
            answer: dict[str, Any] = {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": lifetime,
                "created_at": int(state.clock() * 1000),
                "id": jti,
            }
            status = 201
        else:
            answer = {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": lifetime,
                "scope": " ".join(state.settings.scopes),
            }
            status = 200
        if "no-expires-in" in quirks:
            del answer["expires_in"]
        return json_answer(status, answer, NO_STORE_RAW)

    def _invalid_client(self, basic: bool) -> Answer:
        if self.adobe:
            return oauth_error(400, "invalid_client", "Client authentication failed.")
        extra = ((b"www-authenticate", b'Basic realm="dcrload-mock"'),) if basic else ()
        return oauth_error(401, "invalid_client", "Client authentication failed.", extra)


def _parse_basic(value: str) -> tuple[str, str] | None:
    scheme, _, encoded = value.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(secret)
