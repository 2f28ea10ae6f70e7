"""Software-statement verification at registration.

The header is read unverified only to pick the key: the ``kid`` must name a trusted key and
the ``alg`` must be that key's own algorithm (so an HS256 token "signed" with a public key,
or ``alg: none``, never reaches a verifier). ``jku``, ``x5u``, ``jwk`` and ``x5c`` headers
are ignored: keys come from the keys directory only and nothing is ever fetched. Then the
signature, the ``typ``, the issuer bound to that key, the required claims and the time
claims (numbers, finite; ``iat`` not ahead of the injected clock and ``exp``/``nbf``
against it, each with a `LEEWAY`) must hold, and finally the
``software_id`` must not be revoked.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import Any

import jwt

from loadtests.mockserver.bodies import BadInput, jwt_header, numeric_date
from loadtests.statements import SigningKey

REQUIRED_CLAIMS = ("iss", "software_id", "iat")
LEEWAY = 30  # seconds of clock difference tolerated on iat/exp/nbf


class StatementError(Exception):
    """The statement is refused; `code` is the RFC 7591 error value."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _invalid(description: str) -> StatementError:
    return StatementError("invalid_software_statement", description)


def verify_statement(
    statement: str,
    keys: dict[str, SigningKey],
    typ: str,
    revoked: Container[str],
    clock: Callable[[], float],
) -> dict[str, Any]:
    """The claims of an acceptable statement; raise `StatementError` otherwise."""
    try:
        header = jwt_header(statement)
    except BadInput:
        raise _invalid("The software statement is not a JWT.") from None
    key = keys.get(header.get("kid")) if isinstance(header.get("kid"), str) else None
    if key is None:
        raise _invalid("The software statement is signed by an unknown key.")
    if header.get("alg") != key.alg:
        raise _invalid("The software statement's algorithm is not allowed.")
    if header.get("typ") != typ:
        raise _invalid("The software statement has the wrong type.")
    try:
        claims = jwt.decode(
            statement,
            key.public_key,
            algorithms=[key.alg],
            issuer=key.issuer,
            options={
                "require": list(REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
            },
        )
    except jwt.InvalidIssuerError:
        raise _invalid("The software statement has an untrusted issuer.") from None
    except jwt.PyJWTError:
        raise _invalid("The software statement's signature or claims are invalid.") from None
    now = clock()
    try:
        iat, exp, nbf = (numeric_date(claims, name) for name in ("iat", "exp", "nbf"))
    except BadInput as error:
        raise _invalid(f"The software statement's {error}.") from None
    if iat is not None and iat > now + LEEWAY:
        raise _invalid("The software statement is issued in the future.")
    if exp is not None and now > exp + LEEWAY:
        raise _invalid("The software statement has expired.")
    if nbf is not None and now < nbf - LEEWAY:
        raise _invalid("The software statement is not yet valid.")
    software_id = claims["software_id"]
    if not isinstance(software_id, str) or not software_id:
        raise _invalid("The software statement has no software_id.")
    if software_id in revoked:
        raise StatementError(
            "unapproved_software_statement", "The software statement has been revoked."
        )
    return claims
